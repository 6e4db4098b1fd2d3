// Parse AsyncAPI documents with the official parser (@asyncapi/parser).
//
//   node asyncapi_parse.mjs < documents.json
//
// Reads one JSON object from stdin, {name: document text}, and prints ONE line
// of JSON to stdout: {name: [{code, severity, message, path}]}, the parser's
// diagnostics for each document (severity 0 is an error, 1 a warning, 2 an
// information, 3 a hint). The Python test (test_asyncapi_schema.py) makes the
// assertions.
import { Parser } from "@asyncapi/parser";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const documents = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const parser = new Parser();
const out = {};
for (const [name, text] of Object.entries(documents)) {
  const diagnostics = await parser.validate(text);
  out[name] = diagnostics.map((d) => ({
    code: String(d.code),
    severity: d.severity,
    message: d.message,
    path: d.path.map(String),
  }));
}
console.log(JSON.stringify(out));
