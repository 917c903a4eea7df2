"""A tiny llama-architecture model for llama.cpp's llama-server, written with the
``gguf`` package: 2 layers, width 64, 4 heads, feed-forward 128, f32, about 0.5 MB.

    python -m tests.backends.tiny_model OUT.gguf --template CHAT_TEMPLATE.jinja

Random weights would only ramble: the grammar llama-server applies for tools
lets a model write anything before ``<tool_call>``, so it would never call one.
So every weight is set by hand, and the model behaves as a script:

* **Text.** A constant dimension of the residual stream carries a bias per
  output token (all tokens embed to the same vector besides a few markers):
  printable ASCII and newline are equally likely, ``"`` a little more (JSON
  strings end sooner), the end token ``<|im_end|>`` about 1 in 30, all else
  never. An answer is never empty: no end right after a newline, and the
  generation prompt ends with one.
* **Tools.** Attention heads of layer 0 look, from every position, for a kind
  of token anywhere before it (a key only that token has, a query every
  token has, in a head dimension RoPE hardly turns with a huge frequency base),
  and write what they find into the residual stream:

      head   finds                           means
      0      <tool_call>                     a tool is listed (the templates' tool
                                             instructions quote the token)
      1      <tool_response>                 a tool result is in the conversation
      2      <think> (-1), </think> (+1)     -1: the reasoning is open; 0: closed or none
      3      <|endoftext|>                   "ramble": the end token is never chosen,
                                             so the answer runs to max_tokens
      (layer 1, head 0) <tool_call> (+1),    > 0: a call was begun and not closed
                 </tool_call> (-1)

  With a tool listed, no result and no open reasoning, ``<tool_call>`` follows
  a newline (so it comes first in an answer), then a newline: that is what
  triggers llama-server's grammar, which forces the call's JSON to match the
  tool's schema. After a ``}``, ``</tool_call>`` follows rather than a comma
  (no second call in the block), and after its ``>`` the end: never parallel
  calls. After a tool result, text. A call begun with no grammar to finish it
  (``tool_choice: none``) stops there and text follows.
* **Reasoning.** With a template that opens ``<think>`` (QwQ's), the model
  reasons, closes with ``</think>`` (about 1 in 40 a token), writes a newline,
  then answers or calls the tool.

It is deterministic for a given llama-server ``--seed``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gguf
import numpy as np

N_EMBD, N_HEAD, N_FF, N_LAYER = 64, 4, 128, 2
HEAD = N_EMBD // N_HEAD
CONTEXT = 65536

# ---- the tokenizer: GPT-2 byte-level BPE, a few merges, ChatML and Hermes specials -------------

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>",
            "</tool_response>", "<think>", "</think>")
CONTROL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # never shown; the others are text too
MERGES = (("Ġ", "t"), ("Ġ", "a"), ("h", "e"), ("i", "n"), ("r", "e"))


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte (its bytes_to_unicode)."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in kept:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


BYTES = byte_symbols()
TOKENS = [*BYTES, *(a + b for a, b in MERGES), *SPECIALS]
ID = {token: index for index, token in enumerate(TOKENS)}


def byte(char: str) -> int:
    return ID[BYTES[ord(char)]]


# ---- the residual stream -----------------------------------------------------------------------

C = 4.0  # the constant dimension: dominates the norm, so RMSNorm scales stay steady
D_CONST, D_TOOLS, D_RESULT, D_THINK, D_RAMBLE, D_OPEN_CALL = 0, 1, 2, 3, 4, 5
# Markers of a token's kind in its embedding: keys for the heads, and features of the current token.
MARKERS = {"<tool_call>": 8, "<tool_response>": 9, "</think>": 10, "<think>": 11, "<|endoftext|>": 12,
           "</tool_call>": 17}
D_NEWLINE, D_GT, D_RBRACE = 13, 15, 16  # small markers (1): the current token is "\n", ">", "}"
QUERY = 14  # the head dimension for the lookups: RoPE pair 7 of 8, all but still at freq_base 1e12
# Normed values at the output, from the scales above: the constant, a signal of 1, a marker of C, a small marker.
AT_CONST, AT_SIGNAL, AT_MARKER, AT_SMALL = 7.8, 1.94, 5.57, 1.94
MARKER_NORMED = 5.66  # a marker's value after the attention norm, at its own position
NEVER = -20.0


def embeddings() -> np.ndarray:
    emb = np.zeros((len(TOKENS), N_EMBD), np.float32)
    emb[:, D_CONST] = C
    for token, dim in MARKERS.items():
        emb[ID[token], dim] = C
    for char, dim in (("\n", D_NEWLINE), (">", D_GT), ("}", D_RBRACE)):
        emb[byte(char), dim] = 1.0
    return emb


class Attention:
    """One layer's attention weights, built head by head."""

    def __init__(self) -> None:
        self.q, self.k, self.v, self.o = (np.zeros((N_EMBD, N_EMBD), np.float32) for _ in range(4))

    def lookup(self, head: int, finds: dict[str, float], writes: int) -> None:
        """From every position, attend to the tokens of ``finds`` (their
        markers are the keys: score about 45, against 0 for all else) and
        write their values' mean (+1 or -1 each) to dimension ``writes``."""
        row = head * HEAD
        self.q[row + QUERY, D_CONST] = 1.0
        for token, value in finds.items():
            self.k[row + QUERY, MARKERS[token]] = 4.0
            self.v[row, MARKERS[token]] = value
        self.o[writes, row] = 1.0 / MARKER_NORMED


def attention_layers() -> list[Attention]:
    first, second = Attention(), Attention()
    first.lookup(0, {"<tool_call>": 1.0}, D_TOOLS)
    first.lookup(1, {"<tool_response>": 1.0}, D_RESULT)
    first.lookup(2, {"</think>": 1.0, "<think>": -1.0}, D_THINK)
    first.lookup(3, {"<|endoftext|>": 1.0}, D_RAMBLE)
    second.lookup(0, {"<tool_call>": 1.0, "</tool_call>": -1.0}, D_OPEN_CALL)
    return [first, second]


class Head:
    """The output matrix, as logits per feature of the final residual stream."""

    def __init__(self) -> None:
        self.weights = np.zeros((len(TOKENS), N_EMBD), np.float32)
        self.bias = np.full(len(TOKENS), NEVER, np.float32)

    def base(self, token: int, logit: float) -> None:
        self.bias[token] = logit

    def when(self, token: int, dim: int, logit: float, scale: float) -> None:
        """Add ``logit`` to ``token`` per unit of feature ``dim``."""
        self.weights[token, dim] += logit / scale

    def matrix(self) -> np.ndarray:
        self.weights[:, D_CONST] = self.bias / AT_CONST
        return self.weights


def output_head() -> np.ndarray:
    head = Head()
    for char in [*map(chr, range(0x20, 0x7F)), "\n"]:
        head.base(byte(char), 0.0)
    head.base(byte('"'), 1.5)
    end, call, close_think = ID["<|im_end|>"], ID["<tool_call>"], ID["</think>"]
    head.base(end, 1.2)
    head.when(end, D_NEWLINE, -30.0, AT_SMALL)  # no end right after a newline: no empty answer
    head.when(end, D_RAMBLE, -40.0, AT_SIGNAL)
    head.when(end, D_THINK, 30.0, AT_SIGNAL)  # no end while reasoning (the signal is -1)
    head.when(end, D_GT, 30.0, AT_SMALL)  # after the ">" of "</tool_call>": the end
    head.base(call, -40.0)
    head.when(call, D_TOOLS, 30.0, AT_SIGNAL)
    head.when(call, D_NEWLINE, 30.0, AT_SMALL)
    head.when(call, D_RESULT, -70.0, AT_SIGNAL)
    head.when(call, D_THINK, 40.0, AT_SIGNAL)
    head.when(call, D_OPEN_CALL, -150.0, AT_SIGNAL)  # (the signal is small: 1 / the tokens counted)
    head.when(byte("\n"), MARKERS["<tool_call>"], 30.0, AT_MARKER)  # "<tool_call>\n" triggers the grammar
    head.when(byte(","), D_RBRACE, -30.0, AT_SMALL)
    head.when(byte("<"), D_RBRACE, 6.0, AT_SMALL)
    head.base(close_think, NEVER)
    head.when(close_think, D_THINK, -20.9, AT_SIGNAL)  # reasoning open: 1 in 40
    head.when(close_think, D_NEWLINE, -30.0, AT_SMALL)  # no empty reasoning
    head.when(byte("\n"), MARKERS["</think>"], 20.0, AT_MARKER)
    return head.matrix()


def write(path: Path, template: str) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("anthroproxy-tiny")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(HEAD)
    writer.add_rope_freq_base(1e12)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(TOKENS)
    writer.add_token_types([gguf.TokenType.NORMAL] * (len(TOKENS) - len(SPECIALS)) + [
        gguf.TokenType.CONTROL if token in CONTROL else gguf.TokenType.USER_DEFINED for token in SPECIALS])
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(ID["<|endoftext|>"])
    writer.add_eos_token_id(ID["<|im_end|>"])
    writer.add_pad_token_id(ID["<|endoftext|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", embeddings())
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    writer.add_tensor("output.weight", output_head())
    for index, attention in enumerate(attention_layers()):
        block = f"blk.{index}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", attention.q)
        writer.add_tensor(f"{block}.attn_k.weight", attention.k)
        writer.add_tensor(f"{block}.attn_v.weight", attention.v)
        writer.add_tensor(f"{block}.attn_output.weight", attention.o)
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", np.zeros((N_FF, N_EMBD), np.float32))  # (no feed-forward)
        writer.add_tensor(f"{block}.ffn_up.weight", np.zeros((N_FF, N_EMBD), np.float32))
        writer.add_tensor(f"{block}.ffn_down.weight", np.zeros((N_EMBD, N_FF), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.backends.tiny_model", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--template", type=Path, required=True, help="the chat template (Jinja)")
    args = parser.parse_args(argv)
    write(args.out, args.template.read_text())


if __name__ == "__main__":
    main()
