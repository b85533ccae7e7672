# Build the station as one folder with PyInstaller on Windows: dist\aoi-station\aoi-station.exe,
# then smoke-test it headless. The Windows twin of packaging/build.sh (see there).
#
#   powershell -ExecutionPolicy Bypass -File packaging\build.ps1 [-NoSmoke]
#
# torch: the build venv gets PyPI's Windows wheel, the CPU build; for a CUDA bundle set
# $env:AOI_TORCH_INDEX (see install.ps1) and $env:AOI_BUILD_VENV to a venv of its own.
# NOT TRIED on Windows by its authors (written and reviewed on Linux): see packaging/README.md.
param([switch]$NoSmoke)
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

function Invoke-Checked([string]$exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "failed (exit $LASTEXITCODE): $exe $($argv -join ' ')" }
}

$venv = if ($env:AOI_BUILD_VENV) { $env:AOI_BUILD_VENV } else { "build\venv" }
Write-Host "== installing the station into $venv"
$env:AOI_VENV = $venv
& powershell -ExecutionPolicy Bypass -File packaging\install.ps1
if ($LASTEXITCODE -ne 0) { throw "packaging\install.ps1 failed" }
Remove-Item Env:AOI_VENV
$py = Join-Path $venv "Scripts\python.exe"
Invoke-Checked $py @("-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", "packaging\constraints.txt",
    "-r", "packaging\build-requirements.txt")

Write-Host "== build stamp and third-party licences"
$stage = Join-Path (Get-Location).Path "build\stage"
if (Test-Path $stage) { Remove-Item -Recurse -Force $stage }
New-Item -ItemType Directory -Force $stage | Out-Null
$ErrorActionPreference = "Continue"
$rev = (& git describe --always --dirty 2>$null)
$ErrorActionPreference = "Stop"
Invoke-Checked $py @("packaging\stamp.py", (Join-Path $stage "aoi-station-build.json"), "$rev")
Invoke-Checked $py @("packaging\licenses.py", (Join-Path $stage "THIRD-PARTY-LICENSES.txt"))

Write-Host "== PyInstaller"
$env:AOI_BUILD_STAGE = $stage
Invoke-Checked $py @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", "dist",
    "--workpath", "build\pyinstaller", "packaging\aoi-station.spec")
$mb = [math]::Round((Get-ChildItem -Recurse dist\aoi-station | Measure-Object -Property Length -Sum).Sum / 1MB)
Write-Host "built dist\aoi-station: $mb MB"
if ($NoSmoke) { exit 0 }

Write-Host "== smoke test (headless, simulated web, two starts on a fresh station home)"
$work = Join-Path ([IO.Path]::GetTempPath()) ("aoi-smoke-" + [guid]::NewGuid())
New-Item -ItemType Directory $work | Out-Null
$env:QT_QPA_PLATFORM = "offscreen"
$env:AOI_STATION_HOME = Join-Path $work "home"
$env:CUDA_VISIBLE_DEVICES = ""
try {
    foreach ($run in @("first", "second")) {
        $report = Join-Path $work "$run.json"
        $t = [Diagnostics.Stopwatch]::StartNew()
        # a windowed (no console) executable: Start-Process -Wait waits for it and gives its exit code
        # the first run on the default backend (auto), the second on --backend onnxruntime (see smoke.sh)
        $runArgs = @("--source", "simulated", "--run-for", "10", "--report", "`"$report`"")
        if ($run -eq "second") { $runArgs += @("--backend", "onnxruntime") }
        $p = Start-Process -FilePath "dist\aoi-station\aoi-station.exe" -Wait -PassThru -ArgumentList $runArgs
        $t.Stop()
        if ($p.ExitCode -ne 0) { throw "the $run run failed (exit $($p.ExitCode)); see $env:AOI_STATION_HOME\logs" }
        $r = Get-Content $report -Raw | ConvertFrom-Json
        if (-not $r.inspected) { throw "the $run run inspected nothing: $($r.notifications)" }
        # a bundle lacking a piece of onnx/onnxruntime falls back to torch with a warning: that fails here
        if ($r.backend -ne "onnxruntime") { throw "the $run run inspected on '$($r.backend)', not ONNX Runtime: $($r.notifications)" }
        $startup = $t.Elapsed.TotalSeconds - $r.wall_s
        Write-Host ("{0} run: {1} frames inspected in {2} s ({3}, {4}); start-up {5:N1} s" -f $run, $r.inspected, $r.run_for_s, $r.model, $r.backend, $startup)
    }
    # the command line beside it (a console executable): its version, the two runs' records, an export
    $aoi = "dist\aoi-station\aoi.exe"
    if (-not (Test-Path $aoi)) { throw "$aoi not found: the bundle lacks its command line" }
    Invoke-Checked $aoi @("--version")
    $rows = (& $aoi records list --limit 5 --json) -join "`n"
    if ($LASTEXITCODE -ne 0) { throw "failed (exit $LASTEXITCODE): $aoi records list" }
    if (-not ($rows | ConvertFrom-Json)) { throw "aoi records list found no inspection of the two runs" }
    $onnx = Join-Path $work "demo.onnx"
    Invoke-Checked $aoi @("export", "--model-dir", (Join-Path $env:AOI_STATION_HOME "demo-model"), "--out", $onnx)
    if (-not (Test-Path $onnx)) { throw "aoi export wrote no $onnx" }
    Write-Host "smoke test passed: dist\aoi-station\aoi-station.exe and $aoi"
} finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
