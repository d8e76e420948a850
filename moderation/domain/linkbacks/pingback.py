"""Pingback 1.0, the pure part: XML-RPC in and out. `parse_pingback_request` reads a
``pingback.ping`` call (through `common.safe_xml`: defusedxml, no DTD, no entities), and
`xmlrpc_fault` / `xmlrpc_success` are our answers; `pingback_request` and `parse_xmlrpc_response`
are the same for sending. The fault codes are `common`'s, since every refusal carries one.
"""

from __future__ import annotations

import xmlrpc.client
from xml.etree.ElementTree import Element

from moderation.domain.linkbacks.common import (
    FAULT_GENERIC,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    LinkbackRefused,
    safe_xml,
)
from moderation.domain.pages import CONTROL_CHARS

# --- receiving ------------------------------------------------------------------------------------


def parse_pingback_request(body: bytes) -> tuple[str, str]:
    """(sourceURI, targetURI) of an XML-RPC ``pingback.ping`` call.

    Raises `LinkbackRefused` with XML-RPC's interoperability fault codes: -32700 (not well-formed,
    or a DTD/entity: refused outright), -32600 (not a methodCall), -32601 (another method),
    -32602 (not exactly two string parameters).
    """
    root = safe_xml(body)
    if root.tag != "methodCall":
        raise LinkbackRefused("invalid XML-RPC request: no methodCall", fault=INVALID_REQUEST)
    method = (root.findtext("methodName") or "").strip()
    if method != "pingback.ping":
        raise LinkbackRefused(f"method {method[:64]!r} does not exist", fault=METHOD_NOT_FOUND)
    values = [param.find("value") for param in root.iterfind("params/param")]
    strings = [_xmlrpc_string(v) for v in values if v is not None]
    if len(values) != 2 or len(strings) != 2 or None in strings:
        raise LinkbackRefused(
            "pingback.ping takes two strings: sourceURI, targetURI", fault=INVALID_PARAMS
        )
    source, target = strings
    return source or "", target or ""


def _xmlrpc_string(value: Element) -> str | None:
    """The text of an XML-RPC ``<value>`` holding a string (typed or not), else None."""
    children = list(value)
    if not children:
        return value.text or ""
    if len(children) == 1 and children[0].tag == "string":
        return children[0].text or ""
    return None


def xmlrpc_fault(code: int, message: str) -> str:
    """An XML-RPC fault response."""
    fault = xmlrpc.client.Fault(code, CONTROL_CHARS.sub("", message))
    return xmlrpc.client.dumps(fault, methodresponse=True)


def xmlrpc_success(message: str) -> str:
    """An XML-RPC response carrying one string (Pingback's success: debug text only)."""
    return xmlrpc.client.dumps((CONTROL_CHARS.sub("", message),), methodresponse=True)


# --- sending --------------------------------------------------------------------------------------


def pingback_request(source: str, target: str) -> str:
    """The XML-RPC body of ``pingback.ping(source, target)`` (for sending)."""
    return xmlrpc.client.dumps((source, target), "pingback.ping")


def parse_xmlrpc_response(body: bytes) -> tuple[int | None, str]:
    """(None, string) for a success, (faultCode, faultString) for a fault (for sending)."""
    root = safe_xml(body)
    fault = root.find("fault/value/struct")
    if fault is None:
        value = root.find("params/param/value")
        return None, (_xmlrpc_string(value) or "") if value is not None else ""
    members = {
        (m.findtext("name") or "").strip(): m.find("value") for m in fault.iterfind("member")
    }
    code_value = members.get("faultCode")
    code_text = "".join(code_value.itertext()).strip() if code_value is not None else ""
    message = members.get("faultString")
    text = "".join(message.itertext()).strip() if message is not None else ""
    try:
        return int(code_text), text
    except ValueError:
        return FAULT_GENERIC, text
