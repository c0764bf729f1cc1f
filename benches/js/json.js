// JSON round trips: a 200-record document stringified and parsed 50 times.
function bench() {
  const records = [];
  for (let i = 0; i < 200; i++) {
    records.push({
      id: i,
      name: "record-" + i,
      tags: ["a" + (i % 7), "b" + (i % 11), "c"],
      score: i * 1.5,
      nested: { ok: i % 2 === 0, depth: [i, i + 1, { leaf: "x".repeat(i % 13) }] },
    });
  }
  let document = { records };
  let total = 0;
  for (let round = 0; round < 50; round++) {
    const text = JSON.stringify(document);
    document = JSON.parse(text);
    total += text.length;
  }
  return total;
}
