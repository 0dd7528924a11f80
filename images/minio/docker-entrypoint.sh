#!/bin/sh
# The published image's entrypoint contract: "minio ..." runs the server
# binary under its fork's name, and arguments that start with a server
# subcommand or an option are given to it; anything else runs as it is.
set -e
case "${1:-}" in
  minio) shift; set -- silo "$@" ;;
  server | fmt-gen | -*) set -- silo "$@" ;;
esac
exec "$@"
