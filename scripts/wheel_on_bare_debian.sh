#!/usr/bin/env bash
# Installs a heed wheel into a bare Debian 12 made by debootstrap, with only the
# runtime packages docs/python.md lists (no compiler, no -dev package), and runs
# the module there: a graph, a translation, the heed tool. Needs root and
# Debian's package mirror; docs/python.md records what it printed.
#
#   ./dev.sh wheel && sudo scripts/wheel_on_bare_debian.sh build-wheel/heed-*.whl [ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(readlink -f "$1")
root=${2:-/tmp/heed-bare-debian}
runtime=python3,python3-venv,libdnnl2,libfmt9,libpng16-16,libjpeg62-turbo,libfreetype6,libsentencepiece0,libgomp1
runtime+=,ocl-icd-libopencl1,fonts-dejavu-core,ca-certificates
if [ ! -x "$root/usr/bin/python3" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  debootstrap --variant=minbase --include="$runtime" bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
rm -rf "$root/heed" && mkdir -p "$root/heed"
cp "$wheel" "$root/heed/"
cp -r examples/mlp examples/dates-marian "$root/heed/"
# pip fetches numpy from PyPI as the host does: its resolver, CA bundle (with a proxy's CA, where
# one stands between) and pip configuration.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
cat > "$root/heed/smoke.py" <<'PY'
import shutil, subprocess
import numpy as np
import heed
print("compilers here:", [c for c in ("gcc", "g++", "cc", "c++") if shutil.which(c)])
print("heed", heed.__version__, "from", heed.__file__)
out = heed.Model("mlp/mlp.json").session().run({"x": np.ones((2, 16), np.float32)})
print("mlp probs", out["probs"].shape, out["probs"].sum(axis=1))
print("translation:", heed.Translator("dates-marian").translate("3rd of March 2021"))
print("tool:", subprocess.run(["venv/bin/heed", "translate", "dates-marian"], input="25.12.2023\n",
                              capture_output=True, text=True, check=True).stdout.strip())
PY
chroot "$root" /bin/bash -euc 'cd /heed && python3 -m venv venv && venv/bin/pip install -q ./*.whl && venv/bin/python smoke.py'
