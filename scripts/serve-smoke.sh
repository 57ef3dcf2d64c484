#!/usr/bin/env bash
# Smoke test of a running `jlora serve` with curl: health, models, completions, chat completions, server-sent events
# (read with curl -N as they arrive), an unknown adapter (404), malformed JSON (400) and the API key (401).
#
#   scripts/serve-smoke.sh URL API_KEY MODEL [PROMPT] [MAX_TOKENS]
#
# URL is the server (http://127.0.0.1:8080), API_KEY the server's --api-key, MODEL the base model or adapter the
# generation requests use (greedy: temperature 0). Prints one "ok" line per check and, for callers that compare
# outputs, the answers as "completion-body: JSON", "chat-body: JSON" and "stream: LINE" (each SSE line of the
# streamed completion). Exit status: 0 all passed, 1 a check failed (the reason on stderr), 2 bad usage or no curl.
# Needs bash and curl only (no jq): JSON answers are checked by the fields they must contain.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 URL API_KEY MODEL [PROMPT] [MAX_TOKENS]" >&2
  exit 2
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "serve-smoke: curl is not installed (apt-get install curl)" >&2
  exit 2
fi
URL=${1%/}
KEY=$2
MODEL=$3
PROMPT=${4:-Once upon a time}
MAX_TOKENS=${5:-16}
CHECKS=0

fail() {
  echo "serve-smoke: FAIL: $*" >&2
  exit 1
}

ok() {
  CHECKS=$((CHECKS + 1))
  echo "ok $*"
}

# JSON string literal of $1 (quotes, backslashes and control characters escaped).
json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

# request METHOD PATH WANT_STATUS [curl args...]: sets BODY to the answer; fails unless the status is WANT_STATUS.
request() {
  local method=$1 path=$2 want=$3 out status
  shift 3
  out=$(curl -sS -X "$method" -w $'\n%{http_code}' "$@" "$URL$path") || fail "curl $method $path did not complete"
  status=${out##*$'\n'}
  BODY=${out%$'\n'*}
  [[ $status == "$want" ]] || fail "$method $path answered HTTP $status, expected $want: $BODY"
}

# expect WHAT TEXT...: fails unless BODY contains every TEXT.
expect() {
  local what=$1 needle
  shift
  for needle in "$@"; do
    [[ $BODY == *"$needle"* ]] || fail "$what: the answer lacks $needle: $BODY"
  done
}

AUTH=(-H "Authorization: Bearer $KEY")
JSON=(-H "Content-Type: application/json")
M=$(json_string "$MODEL")
P=$(json_string "$PROMPT")

request GET /health 200
expect "/health" '"status":"ok"'
ok "GET /health (no key needed)"

request GET /v1/models 401
expect "/v1/models without a key" '"error":{' '"code":"invalid_api_key"'
request GET /v1/models 401 -H "Authorization: Bearer wrong-$KEY"
expect "/v1/models with a wrong key" '"code":"invalid_api_key"'
ok "API key required: 401 without it and with a wrong one"

request GET /v1/models 200 "${AUTH[@]}"
expect "/v1/models" '"object":"list"' "\"id\":$M"
ok "GET /v1/models lists $MODEL"

request POST /v1/completions 200 "${AUTH[@]}" "${JSON[@]}" \
  -d "{\"model\":$M,\"prompt\":$P,\"max_tokens\":$MAX_TOKENS,\"temperature\":0}"
expect "/v1/completions" '"object":"text_completion"' '"choices":[{' '"text":' '"finish_reason":' '"usage":{'
echo "completion-body: $BODY"
ok "POST /v1/completions"

request POST /v1/chat/completions 200 "${AUTH[@]}" "${JSON[@]}" \
  -d "{\"model\":$M,\"messages\":[{\"role\":\"user\",\"content\":$P}],\"max_tokens\":$MAX_TOKENS,\"temperature\":0}"
expect "/v1/chat/completions" '"object":"chat.completion"' '"message":{"role":"assistant","content":'
echo "chat-body: $BODY"
ok "POST /v1/chat/completions"

# Streaming: -N prints the events as they arrive; the stream must be data lines ending with data: [DONE].
STREAM=$(curl -sS -N -f "${AUTH[@]}" "${JSON[@]}" \
  -d "{\"model\":$M,\"prompt\":$P,\"max_tokens\":$MAX_TOKENS,\"temperature\":0,\"stream\":true}" \
  "$URL/v1/completions") || fail "streaming /v1/completions failed"
events=0
last=
while IFS= read -r line; do
  [[ -z $line || $line == :* ]] && continue   # event separators and keep-alive comments
  [[ $line == "data: "* ]] || fail "stream: not a data line: $line"
  echo "stream: $line"
  last=$line
  events=$((events + 1))
done <<<"$STREAM"
[[ $last == "data: [DONE]" ]] || fail "stream: the last event is not data: [DONE] but: $last"
[[ $STREAM == *'"finish_reason":"'* ]] || fail "stream: no chunk carries a finish_reason: $STREAM"
ok "streamed /v1/completions: $events events ending with [DONE]"

request POST /v1/completions 404 "${AUTH[@]}" "${JSON[@]}" -d "{\"model\":\"no-such-adapter\",\"prompt\":$P}"
expect "unknown adapter" '"error":{' '"type":"invalid_request_error"' '"param":"model"' '"code":"model_not_found"'
ok "unknown adapter: 404 model_not_found"

request POST /v1/completions 400 "${AUTH[@]}" "${JSON[@]}" -d "{\"model\":$M,\"prompt\":"
expect "malformed JSON" '"error":{' '"type":"invalid_request_error"' 'malformed JSON'
ok "malformed JSON: 400"

echo "serve-smoke: all $CHECKS checks passed against $URL"
