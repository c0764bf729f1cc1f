// String work: building, splitting, joining, case, search and slicing.
function bench() {
  let total = 0;
  for (let round = 0; round < 40; round++) {
    const parts = [];
    for (let i = 0; i < 1000; i++) parts.push("word" + i + (i % 3 === 0 ? "X" : "y"));
    const sentence = parts.join(" ");
    const upper = sentence.toUpperCase();
    const words = upper.split(" ");
    let acc = "";
    for (const word of words) {
      if (word.indexOf("X") >= 0) acc += word.slice(0, 5).toLowerCase();
    }
    total += acc.length + words.length + sentence.lastIndexOf("word5") + upper.charCodeAt(round);
    total += sentence.replaceAll("word", "w").length + sentence.padEnd(sentence.length + round, "-").length;
  }
  return total;
}
