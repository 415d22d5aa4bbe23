// One fault, seen by the official TypeScript SDK over `cassette serve` (run by _failure_modes.py).
// Input: {urls: {stream, create}, body, timeout, deadline}: one server per API, each with the fault.
// Output: {stream: Observation, create: Observation}; an API still waiting at `deadline` ms is not `done`.
import Anthropic from '@anthropic-ai/sdk';

const { urls, body, timeout, deadline } = JSON.parse(process.env.CASSETTE_INPUT);
const seen = {};
process.on('unhandledRejection', () => {}); // a MessageStream's rejected promises nobody awaits

function describe(err) {
  return { name: err.constructor.name, message: String(err.message ?? '').slice(0, 60),
           status: err.status ?? null, api: err instanceof Anthropic.APIError,
           connection: err instanceof Anthropic.APIConnectionError };
}

async function observe(api) {
  const observation = { error: null, where: null, text: '', calls: 0, final: null, done: false };
  seen[api] = observation;
  const client = new Anthropic({
    baseURL: urls[api], timeout,
    fetch: (url, init) => { observation.calls += 1; return fetch(url, init); },
  });
  let events = 0;
  const text = (event) => {
    events += 1;
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') observation.text += event.delta.text;
  };
  if (api === 'stream') {
    const stream = client.messages.stream(body);
    try {
      for await (const event of stream) text(event);
    } catch (err) {
      observation.error = describe(err);
      observation.where = events ? 'iterating' : 'before the first event';
    }
    try {
      observation.final = { stop_reason: (await stream.finalMessage()).stop_reason };
    } catch (err) {
      observation.final = { rejects: describe(err) };
    }
  } else {
    let where = 'calling create()';
    try {
      const stream = await client.messages.create({ ...body, stream: true });
      where = 'iterating';
      for await (const event of stream) text(event);
    } catch (err) {
      observation.error = describe(err);
      observation.where = where;
    }
  }
  observation.done = true;
}

const timer = setTimeout(() => {
  console.log(JSON.stringify(seen));
  process.exit(0);
}, deadline);
await Promise.all([observe('stream'), observe('create')]);
clearTimeout(timer);
console.log(JSON.stringify(seen));
