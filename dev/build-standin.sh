#!/usr/bin/env bash
# Packs the empty librdkafka.redist stand-in into .nuget-local/ (see nuget.config) unless it is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
feed="$root/.nuget-local"
if [ ! -f "$feed/librdkafka.redist.1.9.2.nupkg" ]; then
  mkdir -p "$feed"
  # Its own obj/bin folders would otherwise be globbed by nothing else; keep them under .nuget-local.
  dotnet pack "$root/dev/librdkafka-standin/librdkafka.redist.csproj" -c Release -o "$feed" \
    -p:BaseIntermediateOutputPath="$feed/obj/" -p:BaseOutputPath="$feed/bin/" --nologo -v quiet >/dev/null
  # NuGet caches packages by id and version; drop a stale copy so the fresh stand-in is used.
  rm -rf "${NUGET_PACKAGES:-$HOME/.nuget/packages}/librdkafka.redist/1.9.2"
fi
