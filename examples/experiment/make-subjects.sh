#!/bin/sh
# Makes the example's subject repositories: each folder of subjects/ becomes a git repository with
# one commit on main, in repos/ beside this script (or in the folder given).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/repos}
for src in "$here"/subjects/*/; do
  name=$(basename "$src")
  dest="$out/$name"
  [ -d "$dest/.git" ] && continue
  mkdir -p "$dest"
  cp -R "$src". "$dest"/
  git -C "$dest" init -q -b main
  git -C "$dest" add -A
  git -C "$dest" -c user.name=example -c user.email=example@localhost commit -q -m "the subject before the task"
  echo "made $dest"
done
