// Function calls and small-integer arithmetic: fib(27), recursively.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
function bench() {
  return fib(27);
}
