"""Write the seed corpus (fuzz/corpus/<target>/): real OSC messages and bundles built with
python-osc, the shipped presets and model descriptors, the example config, real specs - and
every input that ever broke something, named for what it broke. Run from the repository root:
`python -m fuzz.make_corpus` (it only adds or rewrites these named files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from node.config import example_config

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
NEGATIVE_SIZE_BUNDLE = bytes.fromhex("2362756e646c65000000000000000000fffffffc61626364")


def message(address: str, *args: Any, tags: str | None = None) -> bytes:
    builder = OscMessageBuilder(address)
    for i, arg in enumerate(args):
        builder.add_arg(arg, tags[i] if tags else None)
    return bytes(builder.build().dgram)


def bundle(*contents: bytes) -> bytes:
    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_message import OscMessage

    builder = OscBundleBuilder(IMMEDIATELY)
    for content in contents:
        is_bundle = content.startswith(b"#bundle")
        builder.add_content(OscBundle(content) if is_bundle else OscMessage(content))
    return bytes(builder.build().dgram)


def osc_seeds() -> dict[str, bytes]:
    pad = b"\0" * (4 - 3003 % 4)
    deep_array = b"/process/canny_t1\0\0\0" + b"," + b"[" * 3000 + b"i" + pad
    return {
        "param_int": message("/process/canny_t1", 20),
        "param_float": message("/predict/post_time_lerp", 0.8),
        "param_bool_true": message("/capture/flip_h", True),
        "param_string_bool": message("/process/canny", "false"),
        "param_norm": message("/process/canny_t2/norm", 0.5),
        "param_double": message("/process/accum_w1", 0.25, tags="d"),
        "param_int64": message("/process/pre_blur", 2**40, tags="h"),
        "param_blob": message("/process/pre_thresh", b"\x01\x02\x03"),
        "param_nil": message("/process/invert", None),
        "param_array": message("/process/canny_t1", [1, 2.0, "x"]),
        "node_status": message("/node/status"),
        "node_models": message("/node/models"),
        "node_presets": message("/node/presets"),
        "node_model_swap": message("/node/model", "other"),
        "node_model_index": message("/node/model", 1),
        "node_model_none": message("/node/model", "none"),
        "node_recall": message("/node/preset/recall", "dreamy"),
        "node_recall_index": message("/node/preset/recall", 2),
        "node_recall_huge_double": message("/node/preset/recall", 1e300, tags="d"),
        "node_save": message("/node/preset/save", "fuzzed"),
        "node_morph": message("/node/preset/morph", "ghost_trails", 2.0),
        "node_get": message("/node/get", "/process/canny_t1"),
        "node_dump": message("/node/dump"),
        "node_reset": message("/node/reset"),
        "node_subscribe": message("/node/subscribe", "127.0.0.1", 9001),
        "node_unsubscribe": message("/node/unsubscribe"),
        "feedback_bounced": message("/node/error", "", "x"),
        "unknown_address": message("/nowhere", 1),
        "bundle_two_params": bundle(
            message("/process/canny_t1", 30), message("/process/canny_t2", 60)
        ),
        "bundle_param_then_command": bundle(
            message("/process/canny_t1", 5), message("/node/preset/recall", "dreamy")
        ),
        "bundle_nested": bundle(bundle(bundle(message("/capture/freeze", True)))),
        "bundle_empty": bundle(),
        # every input that broke something
        "broke_bundle_negative_element_size": NEGATIVE_SIZE_BUNDLE,
        "broke_array_tag_3000_deep": deep_array,
        "broke_bundle_element_past_end": b"#bundle\0" + b"\0" * 8 + b"\x00\x01\x00\x00/a\0\0",
    }


def tcp_seeds(osc: dict[str, bytes]) -> dict[str, bytes]:
    from pythonosc import slip

    def osc10(*packets: bytes) -> bytes:
        return b"".join(len(p).to_bytes(4, "big") + p for p in packets)

    def slip_stream(*packets: bytes) -> bytes:
        return b"".join(slip.encode(p) for p in packets)

    a, b = osc["param_int"], osc["bundle_two_params"]
    escaped = message("/node/preset/save", "\u00c0\u00db")  # UTF-8 bytes include 0xC0, 0xDB
    return {  # the first byte sets the chunk size (fuzz/osc_tcp.py)
        "osc10_two_packets": b"\x07" + osc10(a, b),
        "osc10_byte_by_byte": b"\x00" + osc10(a),
        "osc10_length_too_big": b"\x10" + (2**31).to_bytes(4, "big") + a,
        "osc10_truncated": b"\x10" + osc10(a)[:-3],
        "slip_two_packets": b"\x05" + slip_stream(a, b),
        "slip_escapes": b"\x03" + slip_stream(escaped, osc["broke_bundle_negative_element_size"]),
        "slip_bad_escape": b"\x10" + b"\xc0/a\xdb\x01\xc0",
        "slip_empty_frames": b"\x01" + b"\xc0" * 12 + slip_stream(a),
        # found: a SLIP frame decoding to more than MAX_PACKET bytes was handed on
        "found_slip_frame_over_max_packet": b"\xff\xc0/" + b"a" * 100000 + b"\xc0",
    }


def query_seeds() -> dict[str, bytes]:
    return {
        "root": b"/",
        "host_info": b"/?HOST_INFO",
        "param": b"/process/canny_t1",
        "value": b"/process/canny_t1?VALUE",
        "range": b"/process/canny_t1?RANGE",
        "no_range": b"/process/canny?RANGE",
        "token_and_value": b"/process/canny_t1?token=stage-door-42&VALUE",
        "two_attributes": b"/process/canny_t1?VALUE&TYPE",
        "unknown_attribute": b"/process/canny_t1?NONSENSE",
        "unknown_path": b"/process/nothing",
        "model_vals": b"/node/model?RANGE",
        "preset_morph": b"/node/preset/morph",
        "percent_encoded": b"/process/%63anny_t1?VAL%55E",
    }


def header_seeds() -> dict[str, bytes]:
    return {  # Host, a newline, Origin
        "localhost": b"localhost:8001\nhttp://localhost:8001",
        "ip": b"127.0.0.1:8080\nhttp://127.0.0.1:8080",
        "ipv6": b"[::1]:8001\nhttp://[::1]:8001",
        "dot_local": b"stagepc.local\nhttp://stagepc.local",
        "rebinding": b"stagepc.attacker.example\nhttp://stagepc.attacker.example",
        "other_origin": b"127.0.0.1:8080\nhttps://evil.example",
        "no_host": b"\n",
        "broke_host_unclosed_ipv6": b"[::1\nhttp://[::1",
        "broke_host_bracketed_name": b"[zz]:80\nhttp://[zz]",
    }


def ws_seeds() -> dict[str, bytes]:
    return {
        "listen": b'{"COMMAND": "LISTEN", "DATA": "/process/canny_t1"}',
        "listen_norm": b'{"COMMAND": "LISTEN", "DATA": "/process/canny_t1/norm"}',
        "listen_node": b'{"COMMAND": "LISTEN", "DATA": "/node/model/state"}',
        "ignore": b'{"COMMAND": "IGNORE", "DATA": "/process/canny_t1"}',
        "unknown_command": b'{"COMMAND": "PATH_ADDED", "DATA": "/x"}',
        "unknown_address": b'{"COMMAND": "LISTEN", "DATA": "/nowhere"}',
        "data_not_string": b'{"COMMAND": "LISTEN", "DATA": 7}',
        "not_json": b"not json",
        "broke_json_nested_60000_deep": b"[" * 60000,
    }


def preset_seeds() -> dict[str, bytes]:
    seeds = {p.stem: p.read_bytes() for p in sorted((ROOT / "presets").glob("*.json"))}
    seeds["out_of_range_and_unknown"] = json.dumps(
        {"name": "x", "params": {"process.canny_t1": 9999, "nope.nope": 1, "capture.freeze": 2}}
    ).encode()
    seeds["broke_json_nested_100000_deep"] = b'{"params": ' + b"[" * 100000 + b"}"
    return seeds


def descriptor_seeds() -> dict[str, bytes]:
    seeds = {p.stem: p.read_bytes() for p in sorted((ROOT / "models").glob("*/*.json"))}
    seeds["original_app_format"] = json.dumps(
        {
            "name": "gart_canny_256",
            "ckpt_path": "./models/gart_canny_256",
            "input": {"shape": [256, 256, 3], "range": [-1.0, 1.0], "opname": "generator/in"},
            "output": {"shape": [256, 256, 3], "range": [-1.0, 1.0], "opname": "generator/out"},
        }
    ).encode()
    seeds["broke_shape_20000x20000x3_range_inf"] = (
        b'{"name": "huge", "format": "onnx", "path": "huge.onnx",'
        b' "input": {"shape": [20000, 20000, 3], "range": [-Infinity, Infinity]},'
        b' "output": {"shape": [20000, 20000, 3], "range": [-1e308, 1e308]}}'
    )
    variant = json.loads(seeds["demo_canny_256.openvino-int8"])
    variant.pop("quantization")
    seeds["bf16_variant_on_auto"] = json.dumps(
        {**variant, "precision": "bf16", "device": "AUTO:GPU.0,CPU"}
    ).encode()
    seeds["broke_name_traversal"] = (
        b'{"name": "../../evil", "path": "x.onnx", "input": {"shape": [8, 8, 3]},'
        b' "output": {"shape": [8, 8, 3]}}'
    )
    return seeds


def config_seeds() -> dict[str, bytes]:
    return {
        "example_config": example_config().encode(),  # every key (docs/config.md)
        "nested_params": b'source = "synthetic?fps=25"\nsinks = ["null", "file:a.mp4"]\n'
        b"[params]\nprocess.canny_t1 = 20\n[params.predict]\nenabled = false\n",
        "osc_settings": b'osc_bind = "127.0.0.1"\nosc_port = 9100\nosc_allow = "10.0.0.0/8"\n',
        "broke_array_nested_100000_deep": b"params = " + b"[" * 100000 + b"]" * 100000 + b"\n",
        "broke_inline_table_nested_deep": b"x = " + b"{a = " * 20000 + b"1" + b"}" * 20000,
    }


def spec_seeds() -> dict[str, bytes]:
    sources = [
        "webcam:0",
        "webcam:1?width=1280&height=720&fps=60",
        "file:clip.mp4",
        "file:images/?fps=12",
        "synthetic",
        "synthetic?width=1280&height=720&fps=25",
        "synthetic?on_demand=1&frames=10",
        "ndi:pix2pix-node?extra_ips=10.0.0.2",
        "synthetic?fps=inf",
    ]
    sinks = [
        "null",
        "file:show.mp4",
        "file:out.avi?codec=MJPG&fps=25",
        "ndi:pix2pix",
        "ndi:left?groups=stage",
        "vcam",
        "vcam?width=1280&height=720",
        "preview",
        "preview:0.0.0.0:8081?quality=70",
        "syphon:pix2pix",
        "spout",
        "file:show.mp4?view=input",
    ]
    seeds = {f"source_{i}": b"\x00" + s.encode() for i, s in enumerate(sources)}
    seeds.update({f"sink_{i}": b"\x01" + s.encode() for i, s in enumerate(sinks)})
    # found: Path.expanduser raised RuntimeError (no such user) out of from_spec
    seeds["found_source_file_unknown_user_home"] = b"\x00file:~nosuchuser/clip.mp4"
    seeds["found_sink_file_unknown_user_home"] = b"\x01filE:~puti~put"
    return seeds


def artnet_seeds() -> dict[str, bytes]:
    from node.dmx.artnet import build_dmx, build_poll, poll_replies

    dmx = build_dmx(1, bytes(range(256)) * 2, sequence=1)
    return {
        "dmx_universe_1_512_slots": dmx,
        "dmx_universe_4_two_slots": build_dmx(4, b"\xff\x00", sequence=200),
        "dmx_net_sub_universe_0x1234": build_dmx(0x1234, b"\x80" * 24),
        "poll": build_poll(0x02),
        "poll_targeted": build_poll(0x02, target=(1, 16)),
        "poll_reply_of_another_node": poll_replies("10.0.0.9", [1, 2], "desk", "a desk")[0],
        "art_sync": b"Art-Net\x00\x00\x52\x00\x0e\x00\x00",
        "broke_length_past_data": dmx[:16] + b"\x02\x00" + dmx[18:100],
        "broke_protocol_version_13": dmx[:10] + b"\x00\x0d" + dmx[12:],
        "broke_truncated_header": dmx[:17],
    }


def show_network_seeds() -> dict[str, bytes]:
    import json

    from node.network.origin import Origin
    from node.network.record import NodeRecord

    record = NodeRecord("stage left", "0123456789ab", True, 8001, 8000, 8080, ndi="left")
    txt = b"".join(
        bytes([len(item)]) + item for item in (f"{k}={v}".encode() for k, v in record.txt().items())
    )
    status = json.dumps({"VALUE": [29.9, 11.0, "tone_painter_256", "synthetic", "ndi"]})
    origin = Origin("left", 1234, 1765152000.5, ("B", "C")).xml()
    separator = b"\xff\xfe"
    return {
        "a_node": txt + separator + status.encode() + separator + origin.encode(),
        "another_device": b"\x09txtvers=1" + separator + b"{}" + separator,
        "garbage_status": txt + separator + b"\x00<html>" + separator + b"<pix2pix_origin/>",
    }


def mjpeg_stream_seeds() -> dict[str, bytes]:
    import cv2
    import numpy as np

    _, encoded = cv2.imencode(".jpg", np.full((8, 8, 3), 90, np.uint8))
    jpeg = encoded.tobytes()

    def part(data: bytes, length: int) -> bytes:
        head = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % length
        return head + data + b"\r\n"

    return {
        "two_frames": part(jpeg, len(jpeg)) * 2,
        "a_length_too_long": part(jpeg, len(jpeg) + 100),
        "no_length": b"--f\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg,
        "not_a_jpeg": part(b"\x00" * 40, 40),
    }


def sacn_seeds() -> dict[str, bytes]:
    from node.dmx.sacn import build_data

    data = build_data(1, bytes(range(256)) * 2, sequence=1)
    sync = bytearray(build_data(1, b""))
    sync[18:22] = (8).to_bytes(4, "big")  # VECTOR_ROOT_E131_EXTENDED
    return {
        "data_universe_1_512_slots": data,
        "data_universe_2_24_slots": build_data(2, b"\x10" * 24, sequence=7),
        "data_priority_200_other_source": build_data(3, b"\x01", priority=200, cid=b"B" * 16),
        "data_preview": build_data(1, b"\x01" * 8, options=0x80),
        "data_stream_terminated": build_data(1, b"", options=0x40),
        "data_start_code_0xdd": build_data(4, b"\xff" * 8, start_code=0xDD),
        "extended_sync": bytes(sync),
        "broke_universe_0": data[:113] + b"\x00\x00" + data[115:],
        "broke_property_count": data[:123] + b"\x03\x00" + data[125:],
        "broke_source_name_0xff": data[:44] + b"\xff" * 64 + data[108:],
    }


def dmx_patch_seeds() -> dict[str, bytes]:
    example = {
        "name": "desk",
        "universe": 1,
        "start": 1,
        "channels": [
            {"channel": 1, "address": "/process/canny_t1", "bits": 8},
            {
                "channel": 2,
                "address": "/predict/post_time_lerp",
                "bits": 16,
                "min": 0.2,
                "max": 0.9,
            },
            {"channel": 4, "address": "/process/invert"},
        ],
    }
    ranges = {
        "universe": 2,
        "start": 500,
        "channels": [
            {"channel": 1, "address": "tempo.quant", "min": 3, "max": 1},
            {"channel": 2, "address": "/process/accum_w1", "min": 1, "max": 0},
            {"channel": 3, "address": "/model/style"},
            {"channel": 4, "address": "/model/gain", "bits": 16, "min": 0.5, "max": 1.5},
            {"channel": 6, "address": "/process/canny_t2", "min": -5, "max": 900},
        ],
    }
    return {
        "example": json.dumps(example).encode(),
        "ranges_menus_model_controls": json.dumps(ranges).encode(),
        "broke_unknown_address_and_channel_513": json.dumps(
            {"universe": 0, "channels": [{"channel": 513, "address": "/x/y"}]}
        ).encode(),
        "broke_json_nested_100000_deep": b'{"channels": ' + b"[" * 100000 + b"}",
    }


def midi_profile_seeds() -> dict[str, bytes]:
    from node.midi.files import profile_json
    from node.midi.mapping import Control, Mapping

    def cc(n: int, channel: int = 0) -> Control:
        return Control("cc", channel, n)

    every_mode = [
        Mapping(cc(7), "/process/canny_t1", "pickup", min=10, max=200),
        Mapping(cc(16), "/process/canny_t2", "relative", "offset", step=0.01),
        Mapping(cc(17), "/process/pre_blur", "relative", "sign"),
        Mapping(cc(18), "/process/post_blur", "relative"),
        Mapping(cc(1), "/predict/post_time_lerp", fine=True, curve="exp"),
        Mapping(Control("note", 9, 36), "/capture/freeze", "toggle"),
        Mapping(Control("note", 9, 37), "/node/preset/recall", "trigger", args=("next", 2, 0.5)),
        Mapping(Control("pitchbend", 0), "/process/tone_mix", min=0.8, max=0.2, curve="log"),
        Mapping(cc(127, 15), "/model/style"),
        Mapping(cc(20), "/tempo/quant", "pickup"),
        Mapping(cc(21), "/process/invert", "toggle"),
        Mapping(cc(22), "/tempo/tap", "trigger"),
    ]
    faders = ["/process/canny_t1", "/process/canny_t2", "/process/pre_blur", "/process/post_blur",
              "/process/accum_w1", "/process/accum_w2", "/predict/pre_time_lerp",
              "/predict/post_time_lerp"]  # fmt: skip
    nanokontrol = [Mapping(cc(i), a, "pickup") for i, a in enumerate(faders)]
    nanokontrol += [
        Mapping(cc(16), "/mod1/rate", curve="exp"),
        *(
            Mapping(cc(32 + i), a, "toggle")
            for i, a in enumerate(["/capture/freeze", "/process/invert", "/process/canny"])
        ),
        Mapping(cc(41), "/node/preset/recall", "trigger", args=("dreamy",)),
        Mapping(cc(42), "/node/reset", "trigger"),
    ]
    encoders = [
        Mapping(cc(i, 1), faders[i % 8], "relative", ("twos", "offset", "sign")[i % 3])
        for i in range(16)
    ]
    fine = [Mapping(cc(i, 2), faders[i], fine=True) for i in range(4)]
    fine += [Mapping(Control("pitchbend", ch), faders[4 + ch], "pickup") for ch in range(4)]
    entry = {"kind": "cc", "channel": 0, "number": 1, "address": "/process/invert"}
    odd = {
        "version": 1,
        "name": "odd",
        "colour": "red",
        "mappings": [
            {**entry, "address": "/process/gone"},
            {**entry, "number": 33},
            {**entry, "fine": True, "address": "/process/canny_t1", "curv": "exp"},
            {"kind": "note", "channel": 0, "number": 3, "address": "/node/x", "mode": "trigger"},
        ],
    }
    return {
        "every_mode": profile_json(every_mode).encode(),
        "nanokontrol": profile_json(nanokontrol).encode(),
        "encoders_each_encoding": profile_json(encoders).encode(),
        "fine_pairs_and_pitch_bends": profile_json(fine).encode(),
        "empty": profile_json([]).encode(),
        "unknown_address_field_and_same_control": json.dumps(odd).encode(),
        "broke_channel_16": json.dumps({"mappings": [{**entry, "channel": 16}]}).encode(),
        "broke_1025_mappings": json.dumps({"mappings": [entry] * 1025}).encode(),
        "broke_json_nested_100000_deep": b'{"mappings": ' + b"[" * 100000 + b"}",
    }


def write(target: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


def main() -> None:
    osc = osc_seeds()
    write("osc_packet", osc)
    write("osc_parse", osc)
    write("osc_tcp", tcp_seeds(osc))
    write("oscquery_http", query_seeds())
    write("oscquery_ws", ws_seeds())
    write("http_headers", header_seeds())
    write("preset", preset_seeds())
    write("descriptor", descriptor_seeds())
    write("config", config_seeds())
    write("spec", spec_seeds())
    write("artnet", artnet_seeds())
    write("sacn", sacn_seeds())
    write("dmx_patch", dmx_patch_seeds())
    write("midi_profile", midi_profile_seeds())
    write("show_network", show_network_seeds())
    write("mjpeg_stream", mjpeg_stream_seeds())


if __name__ == "__main__":
    main()
