// Counts tokens with a real tokenizer shipped offline in the gpt-tokenizer package
// (o200k_base: GPT-4o, GPT-5). Reads a JSON array of strings on stdin, prints the counts.
// Special-token names in the text (README.md quotes "<|endoftext|>") are counted as
// the plain text they are, as an API counts a user's text.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";

const PLAIN = { disallowedSpecial: new Set() };
let input = "";
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => countTokens(text, PLAIN))) + "\n");
