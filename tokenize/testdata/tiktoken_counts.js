// Regenerates tiktoken_counts.json, the counts of the real tiktoken (the
// Rust core, as the npm package "tiktoken" builds it to WebAssembly) that
// TestCountTiktoken checks against:
//
//	npm install tiktoken@1.0.22 && node tiktoken_counts.js > tiktoken_counts.json
const { get_encoding } = require("tiktoken");
const texts = [
  "", "hello world", "tiktoken is great!", "antidisestablishmentarianism",
  "2 + 2 = 4", "お誕生日おめでとう", "Hello, world! How are you today?",
  "DON'T you KNOW it's O'Neil's? HELLO'S 'ſ ’s we'll they've I'm you'd",
  "HTTPServer camelCase snake_case SCREAMING_CASE ǅungla ʰx",
  "日本語のテキスト。한국어 텍스트. Ελληνικά κείμενα. Русский текст!",
  "e\u0301cole \u0301x \u0903ab", "12345 1234567 ١٢٣٤ Ⅻ ½ 𝟘𝟙𝟚",
  "\n\t\n", " \n \n", "text\n\n  ", "x  \n\t  \n  y", "a  b   c\t\td",
  "\u00a0x\u3000y\u2028z\v\f\u0085", "a\u007fa", "\u007f", "\u0000\u001c\u001f",
  "<|endoftext|> is not special here", "emoji 😀👍🏽 and \ufffd",
  "func main() {\n\tfmt.Println(\"hi\")\n}\n", "path/to/file.go:12: </div>\n/",
  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "The quick brown fox jumps over the lazy dog. ".repeat(20),
];
const out = texts.map((text) => ({ text }));
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = get_encoding(name);
  texts.forEach((t, i) => (out[i][name] = enc.encode_ordinary(t).length));
  enc.free();
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
