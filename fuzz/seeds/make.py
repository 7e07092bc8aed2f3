#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/: a few small valid messages per target.

Stdlib only (MessagePack is written by hand below). Run from anywhere: python3 fuzz/seeds/make.py
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


# --- XML-RPC ------------------------------------------------------------------------------------------------
XML_CALL = """<?xml version='1.0'?>
<methodCall>
<methodName>double</methodName>
<params>
<param>
<value><int>7</int></value>
</param>
</params>
</methodCall>
"""
XML_ALL_TYPES = """<?xml version='1.0'?>
<methodCall>
<methodName>echo</methodName>
<params>
<param><value><struct>
<member><name>i4</name><value><i4>-5</i4></value></member>
<member><name>i8</name><value><i8>9223372036854775807</i8></value></member>
<member><name>ex</name><value><ex:i8>1</ex:i8></value></member>
<member><name>b</name><value><boolean>1</boolean></value></member>
<member><name>d</name><value><double>-0.5</double></value></member>
<member><name>s</name><value><string>a &amp; b &#13; &lt;</string></value></member>
<member><name>u</name><value>untagged text</value></member>
<member><name>c</name><value><string><![CDATA[x<y]]></string></value></member>
<member><name>n</name><value><nil/></value></member>
<member><name>t</name><value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value></member>
<member><name>t2</name><value><dateTime.iso8601>1998-07-17T14:08:55.123+02:00</dateTime.iso8601></value></member>
<member><name>bin</name><value><base64>
AP8=
</base64></value></member>
<member><name>a</name><value><array><data>
<value><int>1</int></value><value><array><data></data></array></value>
</data></array></value></member>
</struct></value></param>
</params>
</methodCall>
"""
XML_RESPONSE = """<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><int>14</int></value>
</param>
</params>
</methodResponse>
"""
XML_FAULT = """<?xml version='1.0'?>
<methodResponse>
<fault>
<value><struct>
<member>
<name>faultCode</name>
<value><int>-32601</int></value>
</member>
<member>
<name>faultString</name>
<value><string>method not found</string></value>
</member>
</struct></value>
</fault>
</methodResponse>
"""
XML_MULTICALL = """<?xml version="1.0" encoding="iso-8859-1"?>
<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>
<value><struct><member><name>methodName</name><value>double</value></member>
<member><name>params</name><value><array><data><value><i4>2</i4></value></data></array></value></member></struct></value>
</data></array></value></param></params></methodCall>
"""
for name, text in [("call", XML_CALL), ("all_types", XML_ALL_TYPES), ("response", XML_RESPONSE),
                   ("fault", XML_FAULT), ("multicall", XML_MULTICALL)]:
    write("xml_decode", name, text)

# --- JSON-RPC -----------------------------------------------------------------------------------------------
JSON_REQUEST = '{"jsonrpc":"2.0","method":"double","params":[7],"id":1}'
JSON_NAMED = '{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":2},"id":"x"}'
JSON_BATCH = ('[{"jsonrpc":"2.0","method":"double","params":[7],"id":1},'
              '{"jsonrpc":"2.0","method":"echo","params":[null]},{"foo":1}]')
JSON_VALUES = ('[null,true,-9223372036854775808,18446744073709551615,1.5e300,-0.0,"h\\u00e9\\n",'
               '{"$base64":"AP8="},{"$datetime":"19980717T14:08:55"},{"$ext":[5,"AQID"]},'
               '{"$map":[[1,"one"],[[2],"two"]]},{"$float":"NaN"},{"a":{"b":[]},"a":2}]')
JSON_RESPONSE = '{"jsonrpc":"2.0","result":14,"id":1}'
JSON_ERROR = '{"jsonrpc":"2.0","error":{"code":-32601,"message":"no","data":{"x":1}},"id":null}'
JSON_RESPONSES = '[{"jsonrpc":"2.0","result":{"$float":"Infinity"},"id":"a"},{"result":1,"error":null,"id":2.0}]'
# A regression seed: serde_json without `float_roundtrip` read this one ULP off (fixed in 502e1d6).
write("json_decode", "float_roundtrip", "3.6115500000000003e304")
for name, text in [("request", JSON_REQUEST), ("named", JSON_NAMED), ("batch", JSON_BATCH),
                   ("values", JSON_VALUES), ("response", JSON_RESPONSE), ("error", JSON_ERROR),
                   ("responses", JSON_RESPONSES)]:
    write("json_decode", name, text)


# --- MessagePack --------------------------------------------------------------------------------------------
def mp(v):
    """A tiny MessagePack encoder: enough for the seeds."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 2**64:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


# Byte 0: limits (0xe7: 8 KiB and depth 64; 0x00: 64 bytes and depth 1, so these fail); byte 1: chunk seed.
MP_REQUEST = mp([0, 1, "double", [7]])
MP_RESPONSE = mp([1, 1, None, 14])
MP_ERROR = mp([1, 2, [-32601, "method not found"], None])
MP_NOTIFY = mp([2, "bump", [1]])
MP_VALUES = (mp([None, True, False, -1, 2**64 - 1, -2**63, 1.5, "héllo", b"\x00\xff", {1: "one", "k": [1, {}]}])
             + b"\xca\x3f\xc0\x00\x00"          # float 32: 1.5
             + b"\xd4\x05\x01"                  # fixext 1, type 5
             + b"\xc7\x03\xff\x01\x02\x03"      # ext 8, type -1
             + b"\xa2\xff\xfe"                  # a str that is not UTF-8
             + b"\xc5\x00\x02ab"                # bin 16
             + b"\xdc\x00\x01\x01"              # array 16
             + b"\xde\x00\x01\x01\x02")         # map 16
MP_BIN_METHOD = b"\x94\x00\x07\xc4\x06double\x91\x08"  # pynvim sends method names as bin
for name, data in [("request", MP_REQUEST), ("response", MP_RESPONSE), ("error", MP_ERROR),
                   ("notification", MP_NOTIFY), ("values", MP_VALUES), ("bin_method", MP_BIN_METHOD),
                   ("pipeline", MP_REQUEST + MP_NOTIFY + MP_RESPONSE)]:
    write("msgpack_decode", name, b"\xe7\x2a" + data)
write("msgpack_decode", "small_limits", b"\x00\x07" + MP_VALUES)


# --- HTTP ---------------------------------------------------------------------------------------------------
def http(body, content_type, extra=""):
    if isinstance(body, str):
        body = body.encode()
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n")
    return head.encode() + body


# Byte 0: bit 0 picks the server (0 XML-RPC, 1 JSON-RPC); bits 1-2 raw (0), POST body (1), gzip body (2).
write("http_request", "xml_raw", b"\x00" + http(XML_CALL, "text/xml"))
write("http_request", "xml_raw_keepalive", b"\x00" + http(XML_CALL, "text/xml") + http(XML_MULTICALL, "text/xml"))
write("http_request", "xml_raw_gzip", b"\x00" + http(gzip.compress(XML_CALL.encode(), mtime=0), "text/xml",
                                                     "Content-Encoding: gzip\r\nAccept-Encoding: gzip\r\n"))
write("http_request", "xml_raw_chunked", b"\x00" + (
    "POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    f"{len(XML_CALL):x}\r\n{XML_CALL}\r\n0\r\n\r\n").encode())
write("http_request", "xml_get", b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")
write("http_request", "xml_body", b"\x02" + XML_ALL_TYPES.encode())
write("http_request", "xml_body_multicall", b"\x02" + XML_MULTICALL.encode())
write("http_request", "xml_gzip_body", b"\x04" + XML_CALL.encode())
write("http_request", "json_raw", b"\x01" + http(JSON_REQUEST, "application/json"))
write("http_request", "json_raw_basic_auth", b"\x01" + http(JSON_BATCH, "application/json",
                                                            "Authorization: Basic dTpw\r\n"))
write("http_request", "json_body_batch", b"\x03" + JSON_BATCH.encode())
write("http_request", "json_body_named", b"\x03" + JSON_NAMED.encode())
write("http_request", "json_body_echo", b"\x03" + ('{"jsonrpc":"2.0","method":"echo","params":[' + JSON_VALUES
                                                    + '],"id":7}').encode())
write("http_request", "json_gzip_body", b"\x05" + JSON_REQUEST.encode())
