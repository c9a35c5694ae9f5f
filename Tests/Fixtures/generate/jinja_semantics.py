#!/usr/bin/env python3
"""Reference renderings for Tests/JinjaTests: each template rendered by Jinja2 3.1 configured as
transformers configures it for chat templates (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols; tojson as json.dumps). Errors keep the exception's class name.

    python Tests/Fixtures/generate/jinja_semantics.py > Tests/JinjaTests/Fixtures/jinja2_cases.json
"""
import json, jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env.globals["namespace"] = jinja2.utils.Namespace
def raise_exception(m): raise jinja2.exceptions.TemplateError(m)
env.globals["raise_exception"] = raise_exception
ctx = {"messages": [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi <b>\nthere"}],
       "d": {"b": 1, "a": [1, 2.5, None, True, "x"], 3: "three"}, "s": "  Hello, World  ", "n": None}
# The same context as JSON for the Swift side; JSON keys are strings, so d's 3 is rebuilt there.
ctx_json = {k: v for k, v in ctx.items() if k != "d"}
cases = [
 # whitespace control
 "a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
 "a  {%- if true -%}  b  {%- endif -%}  c",
 "x\n    {%+ if true %}y{% endif %}\n",
 "{# comment #}\n  {# indented #}\nz",
 "a {{- ' b ' -}} c",
 "{% raw %}{{ not evaluated }}{% endraw %}",
 "line1\r\nline2\n\n",
 # scoping
 "{% set c = 0 %}{% for i in range(3) %}{% set c = c + i %}{{ c }}{% endfor %}|{{ c }}",
 "{% set ns = namespace(c=0) %}{% for i in range(4) %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }}",
 "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ loop.first }}{{ loop.last }}{{ loop.revindex0 }} {% endfor %}",
 "{% for m in messages if m.role == 'user' %}{{ loop.index0 }}{{ m.role }}{% else %}none{% endfor %}",
 "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
 "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
 "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }}",
 "{% set block %}  inner {{ 1 + 1 }} {% endset %}[{{ block }}]",
 "{% filter upper %}shout {{ 'it' }}{% endfilter %}",
 # expressions
 "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}",
 "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in 'abc' }} {{ 2 not in [1, 3] }} {{ 'a' ~ 1 ~ none }}",
 "{{ 'yes' if n is none else 'no' }} {{ n or 'fallback' }} {{ 0 and 1 }} {{ not [] }}",
 "{{ s[2:7] }}|{{ s[::-1] }}|{{ s[-3:] }}|{{ messages[-1].role }}|{{ [1, 2, 3][1:] }}",
 "{{ d }} {{ [1, 'a', none, true, 1.5] }} {{ (1,) }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1.0 }}",
 # filters
 "{{ d | tojson }} {{ messages[1].content | tojson }} {{ [1, [2, {}]] | tojson(indent=2) }}",
 "{{ {'b': 'é', 'a': 1} | tojson(sort_keys=true) }} {{ 'é☃' | tojson(ensure_ascii=true) }} {{ [1,2] | tojson(separators=(',', ':')) }}",
 "[{{ s | trim }}] [{{ s | upper }}] [{{ s | lower }}] [{{ 'hello world' | title }}] [{{ 'hELLO' | capitalize }}] [{{ s | length }}]",
 "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['a', 'A', 'b'] | unique | list }}",
 "{{ messages | map(attribute='role') | join(', ') }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'in', ['system']) | map(attribute='role') | first }}",
 "{{ {'b': 1, 'a': 2, 'C': 0} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }} {{ d | items | list | length }}",
 "{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'x\n' | indent }}|{{ 'a\n\nb' | indent(2, blank=true) }}",
 "{{ undefined_name | default('dflt') }} {{ '' | default('empty', true) }} {{ none | string }} {{ 12 | string | length }}",
 "{{ '42' | int + 1 }} {{ '3.7' | int }} {{ 'x' | int }} {{ 3 | float }} {{ -3 | abs }} {{ [1, 2, 3] | sum }} {{ [4, 2, 9] | max }} {{ [4, 2, 9] | min }}",
 "{{ 'a b c' | replace(' ', '-') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }} {{ [1, 2, 3] | last }} {{ 'one two  three' | wordcount }}",
 "{{ 'Hi %s, %d items' | format('A', 3) }} {{ '<a & b>' | e }} {{ ['x', 'y'] | map('upper') | list }} {{ [0, 1, 2] | select | list }} {{ [0, 1, 2] | reject('odd') | list }}",
 # tests
 "{{ n is none }} {{ x is defined }} {{ messages is iterable }} {{ d is mapping }} {{ 'a' is string }} {{ 1 is number }} {{ true is boolean }} {{ 3 is odd }} {{ 6 is divisibleby 3 }} {{ 2 is integer }} {{ 2.0 is float }} {{ 'abc' is lower }}",
 "{{ undefined_name is undefined }} {{ messages[0] is not mapping }} {{ 5 is gt 3 }} {{ 'a' is in 'cat' }} {{ none is sameas none }}",
 # string methods
 "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxhixx'.strip('x') }}] {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a.b.c'.rsplit('.', 1) }}",
 "{{ s.startswith('  He') }} {{ s.endswith(('x', '  ')) }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.rfind('c') }} {{ 'abc'.count('') }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'hello world'.title() }} {{ '{} and {name}'.format(1, name='x') }}",
 # details a review found (raw ends, round, max ties, attr, big floats, repr escapes, undefined, split)
 "{% raw %}\nfoo\n    {% endraw %}|{% raw -%}  x  {%- endraw %}|",
 "{{ 2.5|round }} {{ 3.5|round }} {{ 3|round }} {{ 0.125|round(2) }} {{ 2.675|round(2) }} {{ -0.4|round }} {{ 1.55|round(1, 'floor') }} {{ 1.51|round(1, 'ceil') }}",
 "{{ ['a', 'A']|max }} {{ ['b', 'B', 'a']|min }} {{ [{'k': 1, 'n': 'x'}, {'k': 1, 'n': 'y'}]|max(attribute='k') }}",
 "[{{ messages[0]|attr('role') }}] [{{ 'abc'|attr('upper') is defined }}]",
 "{{ 9007199254740994.0 }} {{ 123456789012345.6 }} {{ 1e15 }} {{ 1e16 }} {{ -2.5e15 }} {{ [9007199254740994.0]|tojson }}",
 "{{ ['a\xa0b', 'c\u200bd', 'e\u2028f', '\U0001F600', 'caf\xe9', \"it's\"] }}",
 "[{{ undefined_name|last }}] {{ undefined_name in d }} {{ 'a b  '.split(none, 1) }} {{ '  x  y '.split(none, 1) }} {{ '42\n'|int }} {{ ' 7 '|float }}",
 "{{ 'one, two_three 4x — don\\'t'|wordcount }} {{ ''|wordcount }} {{ 'ß'.swapcase() }} {{ 'aBc'.swapcase() }}",
 "{% if true %}{{ 1 if false else x|nosuchfilter }}{% endif %}{{ 'ok' }}",
 "{{ (x|nosuchfilter) if false else 'soft' }}",
 "{% if false %}{% for i in [1] %}{{ i|nosuchfilter }}{% endfor %}{% endif %}",
 "{% if x|nosuchfilter %}{% endif %}done",
 "{% break %}",
 "{% macro m() %}{% break %}{% endmacro %}",
 "{{ {'a': 1}['a'] }} {{ {1: 'one', 1.0: 'float', true: 'bool'} }} {{ 9007199254740993 // -1 }}",
 "{{ d.get('b') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.keys() | list }} {{ d.values() | list | length }} {{ '-'.join(['a', 'b']) }} {{ 'ab'.upper() }} {{ 'x'.replace('x', 'y') }}",
]
errors = [
 "{{ messages[0].content.nope.deeper }}",
 "{{ none_name.attr }}",
 "{{ 1 + 'a' }}",
 "{% for x in n %}{% endfor %}",
 "{{ raise_exception('no system role') }}",
 "{{ [1] | tojson }}{{ undefined_name | tojson }}",
 "{{ [].append(1) }}",
 "{% set x = 1 %}{% set x.y = 2 %}",
 "{{ 1 / 0 }}",
 "{% if true %}{{ x | nosuchfilter }}{% endif %}",
 "{{ x | nosuchfilter }}",
 "{% for %}",
 "{{ 'unterminated }}",
 "{% if true %}no end",
 "{% endfor %}",
]
out = []
for c in cases + errors:
    try:
        r = env.from_string(c).render(**ctx); out.append({"template": c, "rendered": r})
    except Exception as e:
        out.append({"template": c, "error": type(e).__name__, "message": str(e)})
print(json.dumps({"jinja2": jinja2.__version__, "context": ctx_json, "cases": out}, ensure_ascii=False, indent=1))
