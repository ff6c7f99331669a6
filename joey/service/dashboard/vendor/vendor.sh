#!/usr/bin/env bash
# `make vendor-dashboard`: install the pinned front-end packages (package.json and
# package-lock.json here) with `npm ci` in a throwaway folder, copy the files the dashboard
# serves, with each package's LICENSE, into ../static/vendor/, and write ../static/vendor/VENDORED.md
# (package, version, sha256 of every file; tests/service/test_dashboard_unit.py checks them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/../static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null 2>&1 || { echo "vendor-dashboard: needs npm (Debian: apt-get install npm)" >&2; exit 1; }
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
version="$(node -p "require('$work/node_modules/uplot/package.json').version")"
rm -rf "$target/uplot"
mkdir -p "$target/uplot"
cp "$work/node_modules/uplot/dist/uPlot.iife.min.js" "$work/node_modules/uplot/dist/uPlot.min.css" \
   "$work/node_modules/uplot/LICENSE" "$target/uplot/"
{
  echo "# Vendored front-end files"
  echo
  echo "Written by \`make vendor-dashboard\` (joey/service/dashboard/vendor/vendor.sh) from the npm"
  echo "packages pinned in joey/service/dashboard/vendor/package-lock.json; do not edit by hand."
  echo
  echo "| file | package | version | sha256 |"
  echo "|---|---|---|---|"
  for file in uPlot.iife.min.js uPlot.min.css LICENSE; do
    echo "| uplot/$file | uplot | $version | $(sha256sum "$target/uplot/$file" | cut -d' ' -f1) |"
  done
} > "$target/VENDORED.md"
echo "vendored uplot $version into $target"
