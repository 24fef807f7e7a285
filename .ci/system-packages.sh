#!/usr/bin/env bash
# Debian packages the tests need; idempotent (installs only what is missing). Debian 12.
#   chromium     headless browser that loads the HTML maps (tests/test_maps.py, tests/_browser.py)
#   python3-qgis QGIS 3.22 Python bindings for /usr/bin/python3: opens the written .qgz project
#                (tests/test_qgis.py); pulls in qgis-providers (the OGR/GeoPackage provider).
set -euo pipefail

packages=(chromium python3-qgis)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages present: ${packages[*]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
