// Baseline for the single-request benchmark: a bare route on the same HTTP framework (Fastify),
// parsing the same JSON body and answering `{}`.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/health", async () => "OK");
app.post("/bare", async () => ({}));
await app.listen({ host: "127.0.0.1", port: Number(process.argv[2]) });
