// OpenFeature's JavaScript server SDK with its OFREP provider (npm @openfeature/server-sdk and
// @openfeature/ofrep-provider) evaluating lockgate's flags: node openfeature_sdk.mjs URL KEY,
// run from the folder holding their node_modules. The same stdin/stdout lines as
// openfeature_sdk.py: {"flag", "kind", "default", "users"} -> {user: [value, reason, variant,
// error code]}.
import readline from "node:readline";
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";

const [url, key] = process.argv.slice(2);
await OpenFeature.setProviderAndWait(
  new OFREPProvider({ baseUrl: url, headers: [["Authorization", `Bearer ${key}`]] }),
);
const client = OpenFeature.getClient();
const methods = { boolean: "getBooleanDetails", string: "getStringDetails", object: "getObjectDetails" };
console.log(JSON.stringify({ ready: true }));
for await (const line of readline.createInterface({ input: process.stdin })) {
  const asked = JSON.parse(line);
  const answers = {};
  for (const user of asked.users) {
    const seen = await client[methods[asked.kind]](asked.flag, asked.default, { targetingKey: user });
    answers[user] = [seen.value, seen.reason, seen.variant ?? null, seen.errorCode ?? null];
  }
  console.log(JSON.stringify(answers));
}
