#!/bin/sh
# Generate configure and Makefile.in from configure.ac and Makefile.am.
# Needs autoconf and automake (tools/bootstrap-env installs them).
set -e
cd "$(dirname "$0")"
if ! command -v autoreconf >/dev/null 2>&1; then
  echo "autogen.sh: autoreconf not found; install autoconf and automake" \
       "(tools/bootstrap-env does)" >&2
  exit 1
fi
mkdir -p autotools
autoreconf -fi
