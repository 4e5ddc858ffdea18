"""POST a JSON body with Python requests, as an OpenAI-compatible client
does. Usage: post_json.py URL JSON [HEADER: VALUE ...]. Prints the status."""
import os
import sys

import requests

url, body = sys.argv[1], sys.argv[2]
headers = {"content-type": "application/json", "authorization": "Bearer sk-hosted"}
for h in sys.argv[3:]:
    k, v = h.split(":", 1)
    headers[k.strip()] = v.strip()
r = requests.post(url, data=body, headers=headers, verify=os.environ["MOCK_CA"], timeout=30)
print(r.status_code)
