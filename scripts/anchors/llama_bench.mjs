// Times llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on a GGUF from make_gguf.py: a 300-token prompt
// evaluated in one call, then greedy generation of N tokens after the same prompt; medians of R runs after a warm-up.
//
//   npm install --omit=optional --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1
//   node llama_bench.mjs MODEL.gguf [R=3] [N=64] [threads=2]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [, , modelPath, runsArg, genArg, threadsArg] = process.argv;
const runs = Number(runsArg ?? 3), genTokens = Number(genArg ?? 64), threads = Number(threadsArg ?? 2);
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error});
console.log(`llama.cpp backend: ${llama.systemInfo.trim()}`);
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const context = await model.createContext({contextSize: 2048, batchSize: 512, threads: {ideal: threads, min: threads}, sequences: 1});
const sequence = context.getSequence();
const prompt = Array.from({length: 300}, (_, i) => 100 + (i * 7919) % 150000);
const median = values => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const promptMs = [], generation = [];
for (let run = 0; run <= runs; run++) {
    await sequence.clearHistory();
    const start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const ms = performance.now() - start;
    await sequence.clearHistory();
    let count = 0, first = 0;
    for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
        if (count === 0) first = performance.now();  // generation is timed from the first token on
        if (++count > genTokens) break;
    }
    const rate = genTokens / ((performance.now() - first) / 1000);
    if (run > 0) { promptMs.push(ms); generation.push(rate); }
    console.log(`${run === 0 ? "warm-up" : `run ${run}`}: prompt of 300 in ${ms.toFixed(0)} ms (${(300000 / ms).toFixed(0)} tok/s), generation ${rate.toFixed(1)} tok/s`);
}
console.log(`median: prompt ${(300000 / median(promptMs)).toFixed(0)} tok/s, generation ${median(generation).toFixed(1)} tok/s`);
await context.dispose();
await model.dispose();
await llama.dispose();
