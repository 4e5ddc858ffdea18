#!/bin/sh
# A process tree as agents make them: a shell that starts two python agents
# and a curl call. Usage: agent_tree.sh PYTHON CLIENTS_DIR
py="$1"
dir="$2"
"$py" "$dir/agent_openai.py" || exit 1
"$py" "$dir/agent_anthropic.py" || exit 1
curl -sS --cacert "$MOCK_CA" -H 'content-type: application/json' \
    -H 'authorization: Bearer sk-none' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi from curl"}]}' \
    "$MOCK_BASE/v1/chat/completions" >/dev/null || exit 1
echo tree done
