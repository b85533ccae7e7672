#!/usr/bin/env bash
# Register aoi-station in the Linux desktop menu for the current user (no root needed):
# the desktop entry into $XDG_DATA_HOME/applications, the icons into the hicolor theme.
#
#   bash packaging/desktop.sh [EXECUTABLE]    # default: the bundle's, else aoi-station on PATH, else .venv's
#   bash packaging/desktop.sh --uninstall
#
# The entry's Exec is the executable's absolute path: a venv's bin/ or a bundle is not on the menu's
# PATH. install.sh --desktop calls this; packaging/build.sh puts a copy beside the bundle's executable.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# the resources: the checkout's resources/, or the bundle's (this script is copied into the bundle)
RES=""
for d in "$HERE/../resources" "$HERE/resources" "$HERE/_internal/resources"; do
    [ -f "$d/aoi-station.desktop" ] && { RES=$(cd "$d" && pwd); break; }
done
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
ENTRY="$DATA/applications/aoi-station.desktop"
SIZES=(16 32 48 64 128 256)
refresh() {  # menus and icon caches pick the change up; absent tools are fine
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
}
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$ENTRY"
    for n in "${SIZES[@]}"; do rm -f "$DATA/icons/hicolor/${n}x${n}/apps/aoi-station.png"; done
    rm -f "$DATA/icons/hicolor/scalable/apps/aoi-station.svg"
    refresh
    echo "removed $ENTRY and its icons"
    exit 0
fi
[ -n "$RES" ] || { echo "error: resources/aoi-station.desktop not found beside $HERE" >&2; exit 2; }
if [ -n "${1:-}" ]; then
    EXE=$1
elif [ -x "$HERE/aoi-station" ]; then  # in a bundle, beside the executable
    EXE=$HERE/aoi-station
else
    EXE=$(command -v aoi-station || echo "$HERE/../.venv/bin/aoi-station")
fi
[ -x "$EXE" ] || { echo "error: $EXE is not an executable (give the path of aoi-station)" >&2; exit 2; }
EXE=$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")
case "$EXE" in *[[:space:]\"\'\\]*) echo "error: the path $EXE has spaces or quotes; install aoi-station elsewhere" >&2; exit 2 ;; esac
mkdir -p "$DATA/applications"
sed -e "s|^Exec=.*|Exec=$EXE|" -e "s|^TryExec=.*||" -e "/^Exec=/a TryExec=$EXE" "$RES/aoi-station.desktop" >"$ENTRY.tmp"
mv "$ENTRY.tmp" "$ENTRY"
for n in "${SIZES[@]}"; do
    install -Dm644 "$RES/icons/aoi-station-$n.png" "$DATA/icons/hicolor/${n}x${n}/apps/aoi-station.png"
done
install -Dm644 "$RES/aoi-station.svg" "$DATA/icons/hicolor/scalable/apps/aoi-station.svg"
refresh
echo "registered $ENTRY (Exec=$EXE)"
