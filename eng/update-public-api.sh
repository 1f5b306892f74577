#!/usr/bin/env bash
# Records the current public API of the packages in their PublicAPI.Unshipped.txt files
# (Microsoft.CodeAnalysis.PublicApiAnalyzers; ADR 0012). Run it after changing a public surface,
# then review and commit the diff:
#
#   bash eng/update-public-api.sh            # rewrite the Unshipped files from the code
#   bash eng/update-public-api.sh --check    # verify only: exit 1 (and print the diff) if out of date
#
# How: each Unshipped file is emptied, then the analyzer's own code fix adds every public symbol
# PublicAPI.Shipped.txt does not list (RS0016) and marks every shipped symbol that is gone (RS0017,
# "*REMOVED*" lines), through `dotnet format analyzers`. Lines are sorted (ordinal), so a file
# depends only on the code. Each package is then built; a package whose build still reports
# RS0016/RS0017 gets one more fix pass, and the script fails if that does not settle it.
# PublicAPI.Shipped.txt is never touched: moving the Unshipped lines into it is a release step.
# Takes 3-9 minutes on 2 busy cores (dotnet format loads each project's workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: bash eng/update-public-api.sh [--check]" >&2; exit 2 ;;
esac

# Dependency order: a package's references are recorded before it.
packages=(Transport.Abstractions Transport.WebSockets Transport.Mock Transport.Nats)
header='#nullable enable'
backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT

fix() { # fix <package>: one Fix All pass of RS0016/RS0017 over the project, then normalise.
  local dir="src/$1" body
  dotnet format analyzers "$dir/$1.csproj" --diagnostics RS0016 RS0017 --severity warn >"$backup/$1.format.log" 2>&1 || true
  body=$(grep -v -x -F "$header" "$dir/PublicAPI.Unshipped.txt" | sed '/^[[:space:]]*$/d' | LC_ALL=C sort -u || true)
  { printf '%s\n' "$header"; if [ -n "$body" ]; then printf '%s\n' "$body"; fi; } > "$dir/PublicAPI.Unshipped.txt"
}

reported() { # reported <package>: builds it; true if the analyzer still reports RS0016/RS0017.
  dotnet build "src/$1/$1.csproj" -c Debug >"$backup/$1.build.log" 2>&1 || true
  grep -qE 'RS001[67]' "$backup/$1.build.log"
}

for package in "${packages[@]}"; do
  cp "src/$package/PublicAPI.Unshipped.txt" "$backup/$package.before"
  printf '%s\n' "$header" > "src/$package/PublicAPI.Unshipped.txt"
  echo "== $package: recording the public API"
  fix "$package"
done

status=0
for package in "${packages[@]}"; do
  if reported "$package"; then
    echo "== $package: one more pass"
    fix "$package"
    if reported "$package"; then
      echo "$package: the analyzer still reports unrecorded API after two passes:"
      grep -E 'RS001[67]' "$backup/$package.build.log" | sed 's/ \[.*//' | sort -u | head -40
      status=1
    fi
  fi
  if grep ": error " "$backup/$package.build.log" | grep -qv RS001; then
    echo "note: $package has other build errors (not API tracking):"
    grep ": error " "$backup/$package.build.log" | grep -v RS001 | sed 's/ \[.*//' | sort -u | head -20
  fi
done

if $check; then
  for package in "${packages[@]}"; do
    file="src/$package/PublicAPI.Unshipped.txt"
    if ! cmp -s "$backup/$package.before" "$file"; then
      echo "$file is out of date (run: bash eng/update-public-api.sh):"
      diff -u "$backup/$package.before" "$file" || true
      status=1
    fi
    cp "$backup/$package.before" "$file"
  done
elif [ "$status" -eq 0 ]; then
  echo "public API recorded; review with: git diff -- 'src/*/PublicAPI.*.txt'"
fi
exit "$status"
