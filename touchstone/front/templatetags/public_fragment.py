"""``{% public_fragment "name" fingerprint %}…{% endpublic_fragment %}``: a part of a page that is the
same for every viewer, rendered once per board and then served from the cache.

Django's own ``{% cache %}`` would fail the page when the cache fails; this one renders the
fragment instead (``rankings/board_cache.py``). Only what every viewer may see belongs inside.
"""

from __future__ import annotations

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token

from touchstone.rankings.board_cache import derived

register = template.Library()


class PublicFragmentNode(template.Node):
    def __init__(self, nodelist: NodeList, name: FilterExpression, fingerprint: FilterExpression) -> None:
        self.nodelist = nodelist
        self.name = name
        self.fingerprint = fingerprint

    def render(self, context: template.Context) -> str:
        fingerprint = self.fingerprint.resolve(context)
        if not fingerprint:
            return self.nodelist.render(context)
        name = self.name.resolve(context)
        return derived(str(fingerprint), f"html-{name}", lambda: self.nodelist.render(context))


@register.tag("public_fragment")
def public_fragment(parser: Parser, token: Token) -> PublicFragmentNode:
    arguments = token.split_contents()
    if len(arguments) != 3:
        raise template.TemplateSyntaxError(
            "public_fragment takes two arguments: the fragment's name and the fingerprint"
        )
    nodelist = parser.parse(("endpublic_fragment",))
    parser.delete_first_token()
    return PublicFragmentNode(nodelist, parser.compile_filter(arguments[1]), parser.compile_filter(arguments[2]))
