// A numeric sort: 100,000 pseudo-random doubles with a comparator, then a check.
function bench() {
  let seed = 42;
  const numbers = new Array(100000);
  for (let i = 0; i < numbers.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    numbers[i] = seed / 2147483648;
  }
  numbers.sort((a, b) => a - b);
  let ordered = 0;
  for (let i = 1; i < numbers.length; i++) if (numbers[i - 1] <= numbers[i]) ordered++;
  return ordered + Math.floor(numbers[50000] * 1e6);
}
