#!/usr/bin/env bash
# Check or fix the formatting of sharena's C code with clang-format 14 and
# the style in .clang-format.
#
#   scripts/format.sh [--check] [FILE...]   list the files that differ from
#                                           the style (exit 1), or exit 0
#   scripts/format.sh --diff [FILE...]      the same, printing the changes
#   scripts/format.sh --fix [FILE...]       reformat the files in place
#
# Without FILE: every C source and header under lib/ broker/ tools/ node/src
# python/src tests/ bench/ examples/ that git tracks (outside a git checkout:
# every *.c and *.h there, leaving out build directories, node_modules and
# the addon's vendored copy node/native). The lint ctest test
# lint.clang-format runs --check.
#
# Only clang-format 14 is used (another major version formats differently):
# clang-format-14, or clang-format when it is version 14. Without it, the
# check exits 77 (ctest: skipped), or 1 under CI=true, where
# scripts/bootstrap.sh has installed it.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

mode=check
files=()
for arg in "$@"; do
  case $arg in
    --check) mode=check ;;
    --diff) mode=diff ;;
    --fix) mode=fix ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "format.sh: unknown option: $arg" >&2; exit 2 ;;
    *) files+=("$arg") ;;
  esac
done

cf=
for c in clang-format-14 clang-format; do
  if command -v "$c" >/dev/null &&
     "$c" --version 2>/dev/null | grep -q 'version 14\.'; then
    cf=$c
    break
  fi
done
if [ -z "$cf" ]; then
  echo "format.sh: clang-format 14 is not installed (scripts/bootstrap.sh installs clang-format-14)" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi

dirs=(lib broker tools node/src python/src tests bench examples)
if ((${#files[@]} == 0)); then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- "${dirs[@]}" | grep -E '\.[ch]$')
  else
    mapfile -t files < <(find "${dirs[@]}" \
      -type d \( -name 'build*' -o -name node_modules -o -path node/native \) -prune \
      -o -type f \( -name '*.c' -o -name '*.h' \) -print | sort)
  fi
fi

if [ "$mode" = fix ]; then
  exec "$cf" --style=file -i -- "${files[@]}"
fi

bad=0
lines=0
for f in "${files[@]}"; do
  if [ ! -f "$f" ]; then
    echo "format.sh: no such file: $f" >&2
    bad=$((bad + 1))
    continue
  fi
  # --assume-filename: the style is looked up from the file's own directory
  d=$("$cf" --style=file --assume-filename="$f" <"$f" | diff -u --label "a/$f" --label "b/$f" "$f" -)
  [ -z "$d" ] && continue
  n=$(grep -c '^-[^-]' <<<"$d")
  bad=$((bad + 1))
  lines=$((lines + n))
  if [ "$mode" = diff ]; then
    printf '%s\n' "$d"
  else
    printf 'format.sh: %s: %d lines differ from .clang-format\n' "$f" "$n"
  fi
done
if ((bad)); then
  echo "format.sh: $bad of ${#files[@]} files need formatting ($lines lines): run scripts/format.sh --fix (clang-format $("$cf" --version | grep -o '[0-9][0-9.]*' | head -1))" >&2
  exit 1
fi
echo "format.sh: ${#files[@]} files follow .clang-format"
