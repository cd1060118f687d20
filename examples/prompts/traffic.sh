#!/bin/sh
# Plays N users (default 400) calling support_reply once each, and rates
# every answer with thumbs_up feedback: version 2 is liked more often
# (60 %) than version 1 (30 %), so the A/B report has something to find.
#   sh examples/prompts/traffic.sh [N] [BASE_URL]
n=${1:-400}
base=${2:-http://127.0.0.1:8080}
i=1
while [ "$i" -le "$n" ]; do
  headers=$(curl -s -o /dev/null -D - "$base/v1/chat/completions" \
    -H 'Content-Type: application/json' -H "x-switchboard-unit: user-$i" \
    -d '{"prompt": {"id": "support_reply", "variables": {"customer": "Ada", "issue": "My parcel is late."}}}')
  id=$(printf '%s\n' "$headers" | tr -d '\r' | awk 'tolower($1) == "x-switchboard-inference-id:" {print $2}')
  variant=$(printf '%s\n' "$headers" | tr -d '\r' | awk 'tolower($1) == "x-switchboard-variant:" {print $2}')
  liked=false
  case $variant in
    v2) [ $((i % 10)) -lt 6 ] && liked=true ;;
    *)  [ $((i % 10)) -lt 3 ] && liked=true ;;
  esac
  curl -s -o /dev/null "$base/v1/feedback" -H 'Content-Type: application/json' \
    -d "{\"inference_id\": \"$id\", \"metric\": \"thumbs_up\", \"value\": $liked}"
  i=$((i + 1))
done
echo "sent $n calls and $n feedback values"
