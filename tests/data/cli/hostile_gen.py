"""Writes the hostile inputs of tests/cli/test_hostile.sh into the current
directory (one run, so that the test starts Python once). Deterministic."""
import json
import random

random.seed(7)


def write(name, data):
    with open(name, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# Junk.
write('junk.yaml', bytes(random.randrange(256) for _ in range(65536)))
write('junk-ascii.yaml', ''.join(random.choice('{}[]:-&*!|>\'"%@`#,? \n\tab') for _ in range(65536)))

# A 20 MB policy (over the loader's size limit).
write('big.yaml', 'version: "1.0"\nmetadata:\n  description: ' + 'x' * (20 << 20) + '\n')

# 10,000-deep nesting, an alias bomb, conditions that are too deep or long.
n = 10000
write('deep-flow-seq.yaml', 'version: "1.0"\nroles: ' + '[' * n + ']' * n + '\n')
write('deep-flow-map.yaml', 'version: "1.0"\nroles: ' + '{a: ' * n + '1' + '}' * n + '\n')
write('deep-block.yaml', 'version: "1.0"\nroles:\n  r:\n    actions: ' + '- ' * n + 'x\n')
lines = ['version: "1.0"', 'lol0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i in range(1, 10):
    lines.append(f'lol{i}: &a{i} [' + ','.join([f'*a{i-1}'] * 9) + ']')
lines.append('roles: {r: {actions: *a9}}')
write('bomb.yaml', '\n'.join(lines) + '\n')
cond = 'version: "1.0"\napproval_policies:\n  - name: p\n    condition: \'%s\'\n'
write('deep-cond.yaml', cond % ('(' * n + 'true' + ')' * n))
write('not-cond.yaml', cond % ('not ' * n + 'true'))
write('long-cond.yaml', cond % ' or '.join('action == "x%d"' % i for i in range(20000)))

# 1 MB names (explicit keys: implicit ones stop at 1024 bytes), and
# requests that use them.
big = 'n' * (1 << 20)
write('longname.yaml',
      'version: "1.0"\nroles:\n  ? %s\n  : actions: ["%s:*"]\nprofiles:\n  ? %s\n  : role: %s\n'
      '  ? "%s"\n  : allow: ["*"]\n' % (big, big, big, big, 'q' * 100000))
write('longname.jsonl', ''.join(json.dumps(o) + '\n' for o in [
    {'id': 1, 'agent': big, 'user': 'u', 'action': big + ':go'},
    {'id': 2, 'agent': big, 'user': 'u', 'action': 'other'},
    {'id': 3, 'agent': big[:-1], 'user': 'u', 'action': big + ':go'},
]))

# Inheritance 5,000 roles deep.
n = 5000
lines = ['version: "1.0"', 'roles:', '  r0: {actions: ["base:*"]}']
lines += ['  r%d: {extends: r%d, actions: ["a%d"]}' % (i, i - 1, i) for i in range(1, n)]
lines += ['profiles:', '  bot: {role: r%d}' % (n - 1)]
write('chain.yaml', '\n'.join(lines) + '\n')

# Hostile batch lines; the comment is the line number.
big = 'x' * (1 << 20)
L = []


def add(obj):
    L.append(json.dumps(obj).encode())


add({'agent': '', 'user': 'u', 'action': 'a'})                             # 1 empty agent
add({'agent': 'copilot', 'user': '', 'action': 'read:x'})                  # 2 empty user
add({'agent': 'copilot', 'user': 'u', 'action': 'read:' + big})            # 3 1 MB action
add({'agent': big, 'user': 'u', 'action': 'read:x'})                       # 4 1 MB agent
add({'agent': 'copilot', 'user': big, 'action': 'read:x', 'resource': big,
     'scope': 'project:' + big})                                           # 5 1 MB user, resource, scope
add({'agent': 'copilot', 'user': 'u', 'action': 'read:x',
     'metadata': {'k': big, big[:1000]: 1}})                               # 6 1 MB metadata
add({'agent': '*', 'user': '*', 'action': '*'})                            # 7 globs
add({'agent': 'copilot', 'user': 'u', 'action': 'read:x', 'scope': '*'})   # 8 glob scope
add({'agent': 'copilot', 'user': 'u', 'action': 'read:\u0001\u001b[2J\u009b'})  # 9 control chars
L.append(b'{"agent":"copilot","user":"u","action":"read:\\ud800"}')          # 10 lone surrogate
L.append(b'{"agent":"copilot","user":"u","action":"read:\\udc00\\ud800"}')   # 11 reversed pair
L.append(b'{"agent":"copilot","user":"u","action":"read:\\u0000x"}')         # 12 escaped NUL
L.append(b'{"agent":"co\xffpilot","user":"u","action":"read:x"}')            # 13 raw invalid byte
L.append(b'{"agent":"copilot","user":"u","action":"read:\xc0\xaf"}')         # 14 overlong
L.append(b'{"agent":"copilot","user":"u","action":"read:\xed\xa0\x80"}')     # 15 raw surrogate
L.append(b'{"agent":"copilot","user":"u","action":"read:x\x00y"}')           # 16 raw NUL
L.append(b'[' * 100000 + b']' * 100000)                                      # 17 deep JSON
L.append(b'{"agent":"copilot","user":"u","action":"read:x","metadata":{' +
         b','.join(b'"k%d":%d' % (i, i) for i in range(50000)) + b'}}')      # 18 50k metadata keys
L.append(b'{"agent":"copilot","user":"u","action":"read:x","id":' + b'9' * 5000 + b'}')  # 19 huge number
L.append(b'{"agent":"copilot","user":"u","action":"read:x","metadata":{"n":1e999}}')     # 20 overflow
L.append(b'{"agent":"copilot","user":"u","action":"read:x","id":"\\ud83d\\ude00"}')      # 21 emoji id
L.append(b'\xef\xbb\xbf{"agent":"copilot","user":"u","action":"read:x"}')   # 22 BOM
L.append(b'{"agent":"copilot","user":"u","action":"read:x"}\r')             # 23 CR
L.append(b'{"agent":"%s%n","user":"%x","action":"read:%s","session_id":"\' OR 1=1 --"}')  # 24
L.append(b'{"agent":"copilot","user":"u","action":"read:' + b'y' * (17 << 20) + b'"}')   # 25 17 MB line
L.append(b'{"agent":"copilot","user":"u","action":"read:last"}')             # 26
write('hostile.jsonl', b'\n'.join(L) + b'\n')
