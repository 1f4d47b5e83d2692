"""Writes a random-weight GGUF at the Qwen2-0.5B shape (the decoder of InternVL2.5-1B; vocabulary padded to 151936 as
in the real GGUF files), quantized the way llama-quantize does for that model: the Linear weights in Q4_0 or Q8_0 and
the tied token embedding (also the output projection) in Q8_0, since 896 is not a multiple of 256 and Q6_K falls back
to Q8_0. Norms and biases are F32. The vocabulary and merges come from the Qwen2.5 tokenizer in tests/fixtures.

  /usr/bin/python3 make_gguf.py OUT.gguf q4_0|q8_0|f16      (needs python3-numpy)
"""
import gzip, json, os, struct, sys
import numpy as np
out, ftype = sys.argv[1], sys.argv[2]
H, L, NH, NKV, FF, V = 896, 24, 14, 2, 4864, 151936
HD = H // NH
rng = np.random.default_rng(1)
F32, F16, Q4_0, Q8_0 = 0, 1, 2, 8

def q4_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(b.shape[0]), idx]
    d = mx / -8.0
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, np.trunc(b * idv[:, None] + 8.5)).astype(np.uint8)
    packed = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    blk = np.empty((b.shape[0], 18), np.uint8)
    blk[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    blk[:, 2:] = packed
    return blk.tobytes()

def q8_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1)
    d = amax / 127.0
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.round(b * idv[:, None]).astype(np.int8)
    blk = np.empty((b.shape[0], 34), np.uint8)
    blk[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    blk[:, 2:] = q.view(np.uint8)
    return blk.tobytes()

tensors = []  # (name, ne list, type, bytes)
def linear(name, n_in, n_out, typ):
    w = (rng.standard_normal((n_out, n_in), dtype=np.float32) * 0.02)
    if typ == Q4_0: data = q4_0(w)
    elif typ == Q8_0: data = q8_0(w)
    else: data = w.astype(np.float16).tobytes()
    tensors.append((name, [n_in, n_out], typ, data))
def vec(name, n, value=None):
    v = np.full(n, value, np.float32) if value is not None else (rng.standard_normal(n, dtype=np.float32) * 0.02)
    tensors.append((name, [n], F32, v.tobytes()))

body = {"q4_0": Q4_0, "q8_0": Q8_0, "f16": F16}[ftype]
embd = Q8_0 if ftype in ("q4_0", "q8_0") else F16
linear("token_embd.weight", H, V, embd)
vec("output_norm.weight", H, 1.0)
for i in range(L):
    p = f"blk.{i}."
    vec(p + "attn_norm.weight", H, 1.0)
    linear(p + "attn_q.weight", H, H, body); vec(p + "attn_q.bias", H)
    linear(p + "attn_k.weight", H, NKV * HD, body); vec(p + "attn_k.bias", NKV * HD)
    linear(p + "attn_v.weight", H, NKV * HD, body); vec(p + "attn_v.bias", NKV * HD)
    linear(p + "attn_output.weight", H, H, body)
    vec(p + "ffn_norm.weight", H, 1.0)
    linear(p + "ffn_gate.weight", H, FF, body)
    linear(p + "ffn_up.weight", H, FF, body)
    linear(p + "ffn_down.weight", FF, H, body)

tok = json.load(gzip.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "tokenizer", "tokenizer.json.gz")))
vocab = tok["model"]["vocab"]
tokens = [None] * V; types = [1] * V
for t, i in vocab.items(): tokens[i] = t
for a in tok["added_tokens"]:
    tokens[a["id"]] = a["content"]; types[a["id"]] = 3 if a.get("special") else 4
for i in range(V):
    if tokens[i] is None: tokens[i] = f"[PAD{i}]"; types[i] = 4
merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]

def s(x): b = x.encode("utf-8"); return struct.pack("<Q", len(b)) + b
kvs = []
def kv_u32(k, v): kvs.append(s(k) + struct.pack("<II", 4, v))
def kv_f32(k, v): kvs.append(s(k) + struct.pack("<If", 6, v))
def kv_str(k, v): kvs.append(s(k) + struct.pack("<I", 8) + s(v))
def kv_bool(k, v): kvs.append(s(k) + struct.pack("<I?", 7, v))
def kv_arr_str(k, arr): kvs.append(s(k) + struct.pack("<IIQ", 9, 8, len(arr)) + b"".join(s(x) for x in arr))
def kv_arr_i32(k, arr): kvs.append(s(k) + struct.pack("<IIQ", 9, 5, len(arr)) + np.asarray(arr, np.int32).tobytes())
kv_str("general.architecture", "qwen2"); kv_str("general.name", "qwen2-0.5b-shape-random")
kv_u32("general.file_type", {"q4_0": 2, "q8_0": 7, "f16": 1}[ftype]); kv_u32("general.alignment", 32)
kv_u32("qwen2.block_count", L); kv_u32("qwen2.context_length", 32768); kv_u32("qwen2.embedding_length", H)
kv_u32("qwen2.feed_forward_length", FF); kv_u32("qwen2.attention.head_count", NH); kv_u32("qwen2.attention.head_count_kv", NKV)
kv_f32("qwen2.rope.freq_base", 1000000.0); kv_f32("qwen2.attention.layer_norm_rms_epsilon", 1e-6)
kv_str("tokenizer.ggml.model", "gpt2"); kv_str("tokenizer.ggml.pre", "qwen2")
kv_arr_str("tokenizer.ggml.tokens", tokens); kv_arr_i32("tokenizer.ggml.token_type", types); kv_arr_str("tokenizer.ggml.merges", merges)
kv_u32("tokenizer.ggml.eos_token_id", 151645); kv_u32("tokenizer.ggml.padding_token_id", 151643); kv_u32("tokenizer.ggml.bos_token_id", 151643)
kv_bool("tokenizer.ggml.add_bos_token", False)

with open(out, "wb") as f:
    f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for k in kvs: f.write(k)
    off = 0
    for name, ne, typ, data in tensors:
        f.write(s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + struct.pack("<IQ", typ, off))
        off += (len(data) + 31) // 32 * 32
    pad = (32 - f.tell() % 32) % 32; f.write(b"\0" * pad)
    for name, ne, typ, data in tensors:
        f.write(data); f.write(b"\0" * ((32 - len(data) % 32) % 32))
print(out, off / 2**20, "MiB of tensors")
