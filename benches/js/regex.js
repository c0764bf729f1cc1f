// Regular expressions: matching, global search and replace over 2,000 log lines.
function bench() {
  const lines = [];
  for (let i = 0; i < 2000; i++) {
    lines.push(
      `2026-11-${String((i % 28) + 1).padStart(2, "0")}T12:${String(i % 60).padStart(2, "0")}:00Z ` +
        `user${i % 97}@example.org GET /items/${i}?page=${i % 9} ${i % 5 === 0 ? 500 : 200} ${i * 37 % 1000}ms`,
    );
  }
  const text = lines.join("\n");
  const entry = /^(\d{4})-(\d{2})-(\d{2})T[\d:]+Z (\w+)@([\w.]+) (GET|POST) (\S+) (\d{3}) (\d+)ms$/;
  let count = 0;
  for (let round = 0; round < 5; round++) {
    for (const line of lines) {
      const m = entry.exec(line);
      if (m && m[8] === "500") count += Number(m[9]);
    }
    count += (text.match(/user\d+@example\.org/g) || []).length;
    count += text.replace(/\d+ms/g, "?").length;
  }
  return count;
}
