// Counts tokens with a real tokenizer shipped offline in the gpt-tokenizer package
// (o200k_base: GPT-4o, GPT-5). Reads a JSON array of strings on stdin, prints the counts.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";

let input = "";
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => countTokens(text))) + "\n");
