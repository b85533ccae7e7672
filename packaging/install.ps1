# Create .venv and install aoi-station into it (editable, from this checkout) on Windows.
#
#   powershell -ExecutionPolicy Bypass -File packaging\install.ps1            # the station only
#   powershell -ExecutionPolicy Bypass -File packaging\install.ps1 -Dev       # plus pytest, ruff, ... and OpenVINO
#   powershell -ExecutionPolicy Bypass -File packaging\install.ps1 -StartMenu # plus a Start-menu shortcut
#
# The Windows twin of packaging/install.sh (see there): the same constraints file, the same Qt check.
# torch: PyPI's Windows wheel is the CPU build. For CUDA set $env:AOI_TORCH_INDEX to a PyTorch CUDA
# index (e.g. https://download.pytorch.org/whl/cu128) or $env:AOI_TORCH_SPEC to a wheel or spec.
# Environment: PYTHON (default: py -3), AOI_VENV (default .venv), AOI_CONSTRAINTS (file; empty = none).
# NOT TRIED on Windows by its authors (written and reviewed on Linux): see packaging/README.md.
param([switch]$Dev, [switch]$StartMenu)
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

function Invoke-Checked([string]$exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "failed (exit $LASTEXITCODE): $exe $($argv -join ' ')" }
}

$venv = if ($env:AOI_VENV) { $env:AOI_VENV } else { ".venv" }
$constraints = if ($null -ne $env:AOI_CONSTRAINTS) { $env:AOI_CONSTRAINTS } else { "packaging\constraints.txt" }
$py = Join-Path $venv "Scripts\python.exe"
if (-not (Test-Path $py)) {
    if ($env:PYTHON) { Invoke-Checked $env:PYTHON @("-m", "venv", $venv) }
    else { Invoke-Checked "py" @("-3", "-m", "venv", $venv) }
}
$pin = @()
if ($constraints) {
    if (-not (Test-Path $constraints)) { throw "constraints file $constraints not found" }
    $pin = @("-c", $constraints)
}
$pip = @("-m", "pip", "--disable-pip-version-check")

$ErrorActionPreference = "Continue"  # PowerShell 5.1 turns a redirected stderr line into an error
& $py -c "import torch" 2>$null
$hasTorch = $LASTEXITCODE -eq 0
$ErrorActionPreference = "Stop"
if ($hasTorch) {
    Write-Host "torch already installed: $(& $py -c 'import torch; print(torch.__version__)')"
} elseif ($env:AOI_TORCH_SPEC) {
    Invoke-Checked $py ($pip + @("install", "-q") + $pin + @($env:AOI_TORCH_SPEC))
} elseif ($env:AOI_TORCH_INDEX) {
    Write-Host "installing torch from $env:AOI_TORCH_INDEX"
    Invoke-Checked $py ($pip + @("install", "-q") + $pin + @("torch>=2.4,<2.15", "--index-url", $env:AOI_TORCH_INDEX,
        "--extra-index-url", "https://pypi.org/simple"))
} else {
    Write-Host "installing the CPU build of torch (PyPI's Windows wheel)"
    Invoke-Checked $py ($pip + @("install", "-q") + $pin + @("torch>=2.4,<2.15"))
}
$target = if ($Dev) { ".[dev,openvino]" } else { "." }  # CI runs the OpenVINO parity tests too
Invoke-Checked $py ($pip + @("install", "-q") + $pin + @("-e", $target))

# the Qt/Python pair must not leak references (a leak aborts the station within minutes)
$env:QT_QPA_PLATFORM = "offscreen"
# (python code in single quotes only: Windows PowerShell 5.1 mangles double quotes passed to a program)
$probe = 'import importlib.util as u; s = u.spec_from_file_location(''qt_refcount'', ''tests/gui/test_qt_refcount.py''); ' +
    'm = u.module_from_spec(s); s.loader.exec_module(m); m.test_signals_and_void_calls_keep_true_and_none_refcounts()'
& $py -c $probe | Out-Null
$leaks = $LASTEXITCODE
Remove-Item Env:QT_QPA_PLATFORM
if ($leaks -ne 0) {
    throw "$(& $py -c 'import PySide6, sys; print(''PySide6'', PySide6.__version__, ''on Python'', sys.version.split()[0])') leaks references; see tests/gui/test_qt_refcount.py"
}

if ($StartMenu) {
    # a shortcut in the user's Start menu; the .ico holds every rendered size of the icon
    $exe = (Resolve-Path (Join-Path $venv "Scripts\aoi-station.exe")).Path
    $lnk = Join-Path ([Environment]::GetFolderPath("Programs")) "AOI Station.lnk"
    $shell = New-Object -ComObject WScript.Shell
    $s = $shell.CreateShortcut($lnk)
    $s.TargetPath = $exe
    $s.WorkingDirectory = (Get-Location).Path
    $s.IconLocation = (Resolve-Path "resources\aoi-station.ico").Path
    $s.Description = "Live automated optical inspection"
    $s.Save()
    Write-Host "Start-menu shortcut: $lnk"
}
$what = if ($Dev) { " with the dev tools" } else { "" }
Write-Host "installed into $venv$what ($(& $py -c 'import torch; print(''torch'', torch.__version__, ''cuda'' if torch.cuda.is_available() else ''cpu'')'))"
