// WHATWG Streams: ReadableStream (default readers; `type: "bytes"` sources
// are accepted but read as default streams), WritableStream, TransformStream,
// the queuing strategies, and TextEncoderStream / TextDecoderStream. The
// algorithms follow the standard's names, on hidden state records.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;
  const ILLEGAL = Symbol("illegal constructor");

  function deferred() {
    const d = {};
    d.promise = new Promise((resolve, reject) => ((d.resolve = resolve), (d.reject = reject)));
    return d;
  }
  const resolved = (value) => Promise.resolve(value);
  const rejected = (error) => Promise.reject(error);
  const handled = (promise) => (promise.catch(() => {}), promise);
  function fulfilled() {
    const d = deferred();
    d.resolve();
    return d;
  }
  function failed(error) {
    const d = deferred();
    handled(d.promise);
    d.reject(error);
    return d;
  }
  // Calls `object[name]` as an underlying source/sink method; a missing one
  // does nothing. Validated once, when the stream is built.
  function method(object, name, what) {
    const fn = object[name];
    if (fn === undefined) return undefined;
    if (typeof fn !== "function") throw new TypeError(`${what}: '${name}' must be a function, not ${typeof fn}`);
    return fn;
  }
  function promiseCall(fn, self, ...args) {
    if (fn === undefined) return resolved();
    try {
      return resolved(fn.apply(self, args));
    } catch (error) {
      return rejected(error);
    }
  }
  function strategyOf(strategy, defaultHwm, what) {
    if (strategy === undefined || strategy === null) strategy = {};
    else if (typeof strategy !== "object") throw new TypeError(`${what}: the queuing strategy must be an object`);
    const size = strategy.size;
    if (size !== undefined && typeof size !== "function") throw new TypeError(`${what}: the strategy's size must be a function`);
    let hwm = strategy.highWaterMark;
    if (hwm === undefined) hwm = defaultHwm;
    else hwm = Number(hwm);
    if (Number.isNaN(hwm) || hwm < 0) throw new RangeError(`${what}: highWaterMark must be a non-negative number, not ${String(strategy.highWaterMark)}`);
    return { hwm, size: size === undefined ? () => 1 : (chunk) => size.call(undefined, chunk) };
  }
  function enqueueWithSize(c, value, size) {
    size = Number(size);
    if (!Number.isFinite(size) || size < 0) throw new RangeError(`the queuing strategy's size must be a finite, non-negative number, not ${size}`);
    c.queue.push({ value, size });
    c.queueTotal += size;
  }
  function dequeue(c) {
    const { value, size } = c.queue.shift();
    c.queueTotal = Math.max(0, c.queueTotal - size);
    return value;
  }
  function resetQueue(c) {
    c.queue = [];
    c.queueTotal = 0;
  }

  // ---- ReadableStream ----

  let rsState, rcState;

  class ReadableStream {
    #s;
    constructor(underlyingSource = undefined, strategy = undefined) {
      const what = "Failed to construct 'ReadableStream'";
      if (underlyingSource === null || (underlyingSource !== undefined && typeof underlyingSource !== "object")) {
        throw new TypeError(`${what}: the underlying source must be an object`);
      }
      const source = underlyingSource || {};
      const type = source.type;
      if (type !== undefined && String(type) !== "bytes") throw new TypeError(`${what}: '${type}' is not a valid stream type; use "bytes" or leave it out`);
      this.#s = { state: "readable", storedError: undefined, reader: null, disturbed: false, controller: null, obj: this };
      const { hwm, size } = strategyOf(strategy, type === undefined ? 1 : 0, what);
      const start = method(source, "start", what), pull = method(source, "pull", what), cancel = method(source, "cancel", what);
      const controller = new ReadableStreamDefaultController(ILLEGAL);
      setupReadable(this.#s, controller, (c) => start && start.call(source, c), () => promiseCall(pull, source, controller), (r) => promiseCall(cancel, source, r), hwm, size);
    }
    static {
      rsState = (stream, what) => {
        if (!(stream !== null && typeof stream === "object" && #s in stream)) throw new TypeError(`${what}: the receiver is not a ReadableStream`);
        return stream.#s;
      };
    }
    get locked() {
      return rsState(this, "ReadableStream.locked").reader !== null;
    }
    cancel(reason = undefined) {
      let s;
      try {
        s = rsState(this, "ReadableStream.cancel");
      } catch (error) {
        return rejected(error);
      }
      if (s.reader) return rejected(new TypeError("ReadableStream.cancel: the stream is locked to a reader; cancel through the reader"));
      return rsCancel(s, reason);
    }
    getReader(options = undefined) {
      rsState(this, "ReadableStream.getReader");
      const mode = options === undefined || options === null ? undefined : options.mode;
      if (mode !== undefined) {
        if (String(mode) === "byob") throw new TypeError("ReadableStream.getReader: BYOB readers are not supported; use getReader()");
        throw new TypeError(`ReadableStream.getReader: '${mode}' is not a reader mode`);
      }
      return new ReadableStreamDefaultReader(this);
    }
    pipeThrough(transform, options = undefined) {
      const s = rsState(this, "ReadableStream.pipeThrough");
      if (transform === null || typeof transform !== "object") throw new TypeError("ReadableStream.pipeThrough: the argument must be a { readable, writable } pair such as a TransformStream");
      const { readable, writable } = transform;
      rsState(readable, "ReadableStream.pipeThrough: transform.readable");
      const ws = wsState(writable, "ReadableStream.pipeThrough: transform.writable");
      if (s.reader) throw new TypeError("ReadableStream.pipeThrough: the stream is locked");
      if (ws.writer) throw new TypeError("ReadableStream.pipeThrough: the writable side is locked");
      handled(pipe(s, ws, pipeOptions(options)));
      return readable;
    }
    pipeTo(destination, options = undefined) {
      try {
        const s = rsState(this, "ReadableStream.pipeTo");
        const ws = wsState(destination, "ReadableStream.pipeTo: the destination");
        const flags = pipeOptions(options);
        if (s.reader) throw new TypeError("ReadableStream.pipeTo: the stream is locked");
        if (ws.writer) throw new TypeError("ReadableStream.pipeTo: the destination is locked");
        return pipe(s, ws, flags);
      } catch (error) {
        return rejected(error);
      }
    }
    tee() {
      return tee(rsState(this, "ReadableStream.tee"));
    }
    values(options = undefined) {
      rsState(this, "ReadableStream.values");
      return streamIterator(this, !!(options && options.preventCancel));
    }
    [Symbol.asyncIterator](options = undefined) {
      return this.values(options);
    }
    static from(asyncIterable) {
      internal.requireArgs(arguments.length, 1, "ReadableStream.from");
      const getIterator = asyncIterable === null || asyncIterable === undefined ? undefined : asyncIterable[Symbol.asyncIterator] ?? asyncIterable[Symbol.iterator];
      if (typeof getIterator !== "function") throw new TypeError("ReadableStream.from: the argument must be an iterable or an async iterable");
      const iterator = getIterator.call(asyncIterable);
      if (iterator === null || typeof iterator !== "object") throw new TypeError("ReadableStream.from: the iterator is not an object");
      const next = iterator.next;
      return createReadable(
        undefined,
        (c) =>
          promiseCall(next, iterator).then((result) => {
            if (result === null || typeof result !== "object") throw new TypeError("ReadableStream.from: the iterator's result is not an object");
            if (result.done) readableClose(c);
            else return resolved(result.value).then((value) => readableEnqueue(c, value));
          }),
        (reason) => {
          const ret = iterator.return;
          if (ret === undefined || ret === null) return resolved();
          return promiseCall(ret, iterator, reason).then((result) => {
            if (result === null || typeof result !== "object") throw new TypeError("ReadableStream.from: the iterator's return() result is not an object");
          });
        },
        0,
      );
    }
  }

  // A stream of the prelude's own; its algorithms get the controller's state.
  function createReadable(start, pull, cancel, hwm = 1, size = undefined) {
    return new ReadableStream({
      start: (c) => start && start(rcState(c)),
      pull: (c) => pull && pull(rcState(c)),
      cancel: (reason) => cancel && cancel(reason),
    }, { highWaterMark: hwm, size });
  }

  function setupReadable(s, controller, start, pull, cancel, hwm, size) {
    const c = rcState(controller);
    Object.assign(c, { stream: s, queue: [], queueTotal: 0, started: false, closeRequested: false, pullAgain: false, pulling: false, size, hwm, pull, cancel });
    s.controller = c;
    resolved(start(controller)).then(
      () => {
        c.started = true;
        callPullIfNeeded(c);
      },
      (error) => readableError(c, error),
    );
  }

  function rsClose(s) {
    s.state = "closed";
    const reader = s.reader;
    if (!reader) return;
    reader.closed.resolve();
    for (const request of reader.requests.splice(0)) request.resolve({ value: undefined, done: true });
  }
  function rsError(s, error) {
    s.state = "errored";
    s.storedError = error;
    const reader = s.reader;
    if (!reader) return;
    handled(reader.closed.promise);
    reader.closed.reject(error);
    for (const request of reader.requests.splice(0)) request.reject(error);
  }
  function rsCancel(s, reason) {
    s.disturbed = true;
    if (s.state === "closed") return resolved();
    if (s.state === "errored") return rejected(s.storedError);
    rsClose(s);
    const c = s.controller;
    resetQueue(c);
    const result = c.cancel(reason);
    clearReadable(c);
    return result.then(() => undefined);
  }

  class ReadableStreamDefaultController {
    #s = {};
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    }
    static {
      rcState = (controller) => {
        if (!(controller !== null && typeof controller === "object" && #s in controller)) throw new TypeError("the receiver is not a ReadableStreamDefaultController");
        return controller.#s;
      };
    }
    get desiredSize() {
      return readableDesiredSize(this.#s);
    }
    get byobRequest() {
      return null;
    }
    close() {
      if (!canCloseOrEnqueue(this.#s)) throw new TypeError("ReadableStreamDefaultController.close: the stream is already closing or closed");
      readableClose(this.#s);
    }
    enqueue(chunk = undefined) {
      if (!canCloseOrEnqueue(this.#s)) throw new TypeError("ReadableStreamDefaultController.enqueue: the stream is closing or closed; cannot enqueue");
      readableEnqueue(this.#s, chunk);
    }
    error(error = undefined) {
      readableError(this.#s, error);
    }
  }

  function canCloseOrEnqueue(c) {
    return !c.closeRequested && c.stream.state === "readable";
  }
  function readableDesiredSize(c) {
    const state = c.stream.state;
    return state === "errored" ? null : state === "closed" ? 0 : c.hwm - c.queueTotal;
  }
  function clearReadable(c) {
    c.pull = c.cancel = () => resolved();
    c.size = () => 1;
  }
  function readableClose(c) {
    if (!canCloseOrEnqueue(c)) return;
    c.closeRequested = true;
    if (c.queue.length === 0) {
      clearReadable(c);
      rsClose(c.stream);
    }
  }
  function readableEnqueue(c, chunk) {
    if (!canCloseOrEnqueue(c)) throw new TypeError("the readable stream is closing or closed; cannot enqueue");
    const s = c.stream;
    if (s.reader && s.reader.requests.length > 0) {
      s.reader.requests.shift().resolve({ value: chunk, done: false });
    } else {
      let size;
      try {
        size = c.size(chunk);
        enqueueWithSize(c, chunk, size);
      } catch (error) {
        readableError(c, error);
        throw error;
      }
    }
    callPullIfNeeded(c);
  }
  function readableError(c, error) {
    if (c.stream.state !== "readable") return;
    resetQueue(c);
    clearReadable(c);
    rsError(c.stream, error);
  }
  function callPullIfNeeded(c) {
    const s = c.stream;
    if (!canCloseOrEnqueue(c) || !c.started) return;
    if (!(s.reader && s.reader.requests.length > 0) && !(readableDesiredSize(c) > 0)) return;
    if (c.pulling) {
      c.pullAgain = true;
      return;
    }
    c.pulling = true;
    c.pull().then(
      () => {
        c.pulling = false;
        if (c.pullAgain) {
          c.pullAgain = false;
          callPullIfNeeded(c);
        }
      },
      (error) => readableError(c, error),
    );
  }

  class ReadableStreamDefaultReader {
    #s;
    constructor(stream) {
      internal.requireArgs(arguments.length, 1, "Failed to construct 'ReadableStreamDefaultReader'");
      const s = rsState(stream, "Failed to construct 'ReadableStreamDefaultReader'");
      if (s.reader) throw new TypeError("Failed to construct 'ReadableStreamDefaultReader': the stream is already locked to a reader");
      const r = (this.#s = { stream: s, requests: [], closed: null });
      s.reader = r;
      r.closed = s.state === "readable" ? deferred() : s.state === "closed" ? fulfilled() : failed(s.storedError);
    }
    get closed() {
      return this.#s.closed.promise;
    }
    read() {
      const r = this.#s;
      const s = r.stream;
      if (!s) return rejected(new TypeError("ReadableStreamDefaultReader.read: the reader was released; get a new one"));
      s.disturbed = true;
      if (s.state === "closed") return resolved({ value: undefined, done: true });
      if (s.state === "errored") return rejected(s.storedError);
      const c = s.controller;
      if (c.queue.length > 0) {
        const chunk = dequeue(c);
        if (c.closeRequested && c.queue.length === 0) {
          clearReadable(c);
          rsClose(s);
        } else {
          callPullIfNeeded(c);
        }
        return resolved({ value: chunk, done: false });
      }
      const request = deferred();
      r.requests.push(request);
      callPullIfNeeded(c);
      return request.promise;
    }
    releaseLock() {
      const r = this.#s;
      const s = r.stream;
      if (!s) return;
      const error = new TypeError("the reader was released");
      if (s.state === "readable") r.closed.reject(error);
      else r.closed = failed(error);
      handled(r.closed.promise);
      for (const request of r.requests.splice(0)) request.reject(error);
      s.reader = null;
      r.stream = null;
    }
    cancel(reason = undefined) {
      const s = this.#s.stream;
      if (!s) return rejected(new TypeError("ReadableStreamDefaultReader.cancel: the reader was released"));
      return rsCancel(s, reason);
    }
  }

  // ---- async iteration, tee, from ----

  const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
  const ReadableStreamAsyncIteratorPrototype = Object.create(AsyncIteratorPrototype, {
    next: { value() { return this.next_(); }, writable: true, configurable: true },
    return: { value(value) { return this.return_(value); }, writable: true, configurable: true },
  });

  function streamIterator(stream, preventCancel) {
    const reader = new ReadableStreamDefaultReader(stream);
    let ongoing = null, finished = false;
    const step = () => {
      if (finished) return resolved({ value: undefined, done: true });
      return reader.read().then(
        (result) => {
          if (result.done) {
            finished = true;
            reader.releaseLock();
          }
          return result;
        },
        (error) => {
          finished = true;
          reader.releaseLock();
          throw error;
        },
      );
    };
    const finish = (value) => {
      if (finished) return resolved({ value, done: true });
      finished = true;
      if (preventCancel) {
        reader.releaseLock();
        return resolved({ value, done: true });
      }
      const cancelled = reader.cancel(value);
      reader.releaseLock();
      return cancelled.then(() => ({ value, done: true }));
    };
    // Calls wait for the one before, if it has not settled yet (WebIDL).
    const chain = (fn) => {
      const promise = (ongoing = ongoing ? ongoing.then(fn, fn) : fn());
      const clear = () => ongoing === promise && (ongoing = null);
      promise.then(clear, clear);
      return promise;
    };
    return Object.create(ReadableStreamAsyncIteratorPrototype, {
      next_: { value: () => chain(step) },
      return_: { value: (value) => chain(() => finish(value)) },
    });
  }

  function tee(s) {
    const reader = new ReadableStreamDefaultReader(s.obj);
    let reading = false, readAgain = false, canceled1 = false, canceled2 = false, reason1, reason2;
    const cancelled = deferred();
    let c1, c2;
    function pull() {
      if (reading) {
        readAgain = true;
        return resolved();
      }
      reading = true;
      reader.read().then(
        ({ value, done }) => {
          reading = false;
          if (done) {
            if (!canceled1) readableClose(c1);
            if (!canceled2) readableClose(c2);
            if (!canceled1 || !canceled2) cancelled.resolve();
            return;
          }
          readAgain = false;
          if (!canceled1) readableEnqueue(c1, value);
          if (!canceled2) readableEnqueue(c2, value);
          if (readAgain) pull();
        },
        () => {
          reading = false;
        },
      );
      return resolved();
    }
    function cancelBranch(first) {
      return (reason) => {
        if (first) (canceled1 = true), (reason1 = reason);
        else (canceled2 = true), (reason2 = reason);
        if (canceled1 && canceled2) cancelled.resolve(rsCancel(s, [reason1, reason2]));
        return cancelled.promise;
      };
    }
    const branch1 = createReadable((c) => (c1 = c), pull, cancelBranch(true));
    const branch2 = createReadable((c) => (c2 = c), pull, cancelBranch(false));
    reader.closed.catch((error) => {
      readableError(c1, error);
      readableError(c2, error);
      if (!canceled1 || !canceled2) cancelled.resolve();
    });
    return [branch1, branch2];
  }

  // ---- WritableStream ----

  let wsState, writerState, wcState;
  const CLOSE = Symbol("close");

  class WritableStream {
    #s;
    constructor(underlyingSink = undefined, strategy = undefined) {
      const what = "Failed to construct 'WritableStream'";
      if (underlyingSink === null || (underlyingSink !== undefined && typeof underlyingSink !== "object")) {
        throw new TypeError(`${what}: the underlying sink must be an object`);
      }
      const sink = underlyingSink || {};
      if (sink.type !== undefined) throw new RangeError(`${what}: the sink's type must be left out`);
      const { hwm, size } = strategyOf(strategy, 1, what);
      const start = method(sink, "start", what), write = method(sink, "write", what), close = method(sink, "close", what), abort = method(sink, "abort", what);
      this.#s = {
        state: "writable", storedError: undefined, writer: null, controller: null, inFlightWrite: null, inFlightClose: null,
        closeRequest: null, pendingAbort: null, writeRequests: [], backpressure: false, obj: this,
      };
      const controller = new WritableStreamDefaultController(ILLEGAL);
      setupWritable(this.#s, controller, () => start && start.call(sink, controller), (chunk) => promiseCall(write, sink, chunk, controller), () => promiseCall(close, sink), (r) => promiseCall(abort, sink, r), hwm, size);
    }
    static {
      wsState = (stream, what) => {
        if (!(stream !== null && typeof stream === "object" && #s in stream)) throw new TypeError(`${what}: not a WritableStream`);
        return stream.#s;
      };
    }
    get locked() {
      return wsState(this, "WritableStream.locked").writer !== null;
    }
    abort(reason = undefined) {
      const s = wsState(this, "WritableStream.abort");
      if (s.writer) return rejected(new TypeError("WritableStream.abort: the stream is locked to a writer; abort through the writer"));
      return wsAbort(s, reason);
    }
    close() {
      const s = wsState(this, "WritableStream.close");
      if (s.writer) return rejected(new TypeError("WritableStream.close: the stream is locked to a writer; close through the writer"));
      if (closeQueuedOrInFlight(s)) return rejected(new TypeError("WritableStream.close: the stream is already closing"));
      return wsClose(s);
    }
    getWriter() {
      return new WritableStreamDefaultWriter(this);
    }
  }

  function createWritable(start, write, close, abort, hwm, size) {
    return new WritableStream({ start, write: (chunk) => write(chunk), close, abort }, { highWaterMark: hwm, size });
  }

  function setupWritable(s, controller, start, write, close, abort, hwm, size) {
    const c = wcState(controller);
    Object.assign(c, { stream: s, queue: [], queueTotal: 0, started: false, hwm, size, write, close, abort, abortController: new internal.AbortController() });
    s.controller = c;
    updateBackpressure(s, writableDesiredSize(c) <= 0);
    resolved(start()).then(
      () => {
        c.started = true;
        advanceQueueIfNeeded(c);
      },
      (error) => {
        c.started = true;
        dealWithRejection(s, error);
      },
    );
  }

  function closeQueuedOrInFlight(s) {
    return s.closeRequest !== null || s.inFlightClose !== null;
  }
  function wsAbort(s, reason) {
    if (s.state === "closed" || s.state === "errored") return resolved();
    s.controller.abortController.abort(reason);
    if (s.state === "closed" || s.state === "errored") return resolved();
    if (s.pendingAbort) return s.pendingAbort.promise;
    const wasAlreadyErroring = s.state === "erroring";
    if (wasAlreadyErroring) reason = undefined;
    const request = (s.pendingAbort = Object.assign(deferred(), { reason, wasAlreadyErroring }));
    if (!wasAlreadyErroring) startErroring(s, reason);
    return request.promise;
  }
  function wsClose(s) {
    if (s.state === "closed" || s.state === "errored") return rejected(new TypeError("the writable stream is already closed or errored; cannot close it"));
    const request = (s.closeRequest = deferred());
    if (s.writer && s.backpressure && s.state === "writable") s.writer.ready.resolve();
    const c = s.controller;
    enqueueWithSize(c, CLOSE, 0);
    advanceQueueIfNeeded(c);
    return request.promise;
  }
  function dealWithRejection(s, error) {
    if (s.state === "writable") startErroring(s, error);
    else finishErroring(s);
  }
  function startErroring(s, reason) {
    const c = s.controller;
    s.state = "erroring";
    s.storedError = reason;
    if (s.writer) rejectReady(s.writer, reason);
    if (s.inFlightWrite === null && s.inFlightClose === null && c.started) finishErroring(s);
  }
  function finishErroring(s) {
    s.state = "errored";
    resetQueue(s.controller);
    const error = s.storedError;
    for (const request of s.writeRequests.splice(0)) request.reject(error);
    const abort = s.pendingAbort;
    if (!abort) return rejectCloseAndClosed(s);
    s.pendingAbort = null;
    if (abort.wasAlreadyErroring) {
      abort.reject(error);
      return rejectCloseAndClosed(s);
    }
    const c = s.controller;
    const result = c.abort(abort.reason);
    clearWritable(c);
    result.then(
      () => {
        abort.resolve();
        rejectCloseAndClosed(s);
      },
      (reason) => {
        abort.reject(reason);
        rejectCloseAndClosed(s);
      },
    );
  }
  function rejectCloseAndClosed(s) {
    if (s.closeRequest) {
      s.closeRequest.reject(s.storedError);
      s.closeRequest = null;
    }
    if (s.writer) {
      handled(s.writer.closed.promise);
      s.writer.closed.reject(s.storedError);
    }
  }
  function updateBackpressure(s, backpressure) {
    if (s.writer && backpressure !== s.backpressure) {
      if (backpressure) s.writer.ready = deferred();
      else s.writer.ready.resolve();
    }
    s.backpressure = backpressure;
  }
  function rejectReady(w, error) {
    w.ready = failed(error);
  }

  class WritableStreamDefaultController {
    #s = {};
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    }
    static {
      wcState = (controller) => controller.#s;
    }
    get signal() {
      return this.#s.abortController.signal;
    }
    error(error = undefined) {
      if (this.#s.stream.state !== "writable") return;
      writableError(this.#s, error);
    }
  }

  function writableDesiredSize(c) {
    return c.hwm - c.queueTotal;
  }
  function clearWritable(c) {
    c.write = c.close = c.abort = () => resolved();
    c.size = () => 1;
  }
  function writableError(c, error) {
    clearWritable(c);
    startErroring(c.stream, error);
  }
  function writableErrorIfNeeded(c, error) {
    if (c.stream.state === "writable") writableError(c, error);
  }
  function advanceQueueIfNeeded(c) {
    const s = c.stream;
    if (!c.started || s.inFlightWrite !== null) return;
    if (s.state === "erroring") return finishErroring(s);
    if (c.queue.length === 0) return;
    const value = c.queue[0].value;
    if (value === CLOSE) {
      s.inFlightClose = s.closeRequest;
      s.closeRequest = null;
      dequeue(c);
      const result = c.close();
      clearWritable(c);
      result.then(
        () => {
          s.inFlightClose.resolve();
          s.inFlightClose = null;
          if (s.state === "erroring") {
            s.storedError = undefined;
            if (s.pendingAbort) {
              s.pendingAbort.resolve();
              s.pendingAbort = null;
            }
          }
          s.state = "closed";
          if (s.writer) s.writer.closed.resolve();
        },
        (error) => {
          s.inFlightClose.reject(error);
          s.inFlightClose = null;
          if (s.pendingAbort) {
            s.pendingAbort.reject(error);
            s.pendingAbort = null;
          }
          dealWithRejection(s, error);
        },
      );
      return;
    }
    s.inFlightWrite = s.writeRequests.shift();
    c.write(value).then(
      () => {
        s.inFlightWrite.resolve();
        s.inFlightWrite = null;
        dequeue(c);
        if (!closeQueuedOrInFlight(s) && s.state === "writable") updateBackpressure(s, writableDesiredSize(c) <= 0);
        advanceQueueIfNeeded(c);
      },
      (error) => {
        if (s.state === "writable") clearWritable(c);
        s.inFlightWrite.reject(error);
        s.inFlightWrite = null;
        dealWithRejection(s, error);
      },
    );
  }

  class WritableStreamDefaultWriter {
    #s;
    constructor(stream) {
      internal.requireArgs(arguments.length, 1, "Failed to construct 'WritableStreamDefaultWriter'");
      const s = wsState(stream, "Failed to construct 'WritableStreamDefaultWriter'");
      if (s.writer) throw new TypeError("Failed to construct 'WritableStreamDefaultWriter': the stream is already locked to a writer");
      const w = (this.#s = { stream: s, ready: null, closed: null });
      s.writer = w;
      const state = s.state;
      if (state === "writable") {
        w.ready = !closeQueuedOrInFlight(s) && s.backpressure ? deferred() : fulfilled();
        w.closed = deferred();
      } else if (state === "erroring") {
        w.ready = failed(s.storedError);
        w.closed = deferred();
      } else if (state === "closed") {
        w.ready = fulfilled();
        w.closed = fulfilled();
      } else {
        w.ready = failed(s.storedError);
        w.closed = failed(s.storedError);
      }
    }
    static {
      writerState = (writer) => writer.#s;
    }
    get closed() {
      return this.#s.closed.promise;
    }
    get ready() {
      return this.#s.ready.promise;
    }
    get desiredSize() {
      const s = this.#s.stream;
      if (!s) throw new TypeError("WritableStreamDefaultWriter.desiredSize: the writer was released");
      return s.state === "errored" || s.state === "erroring" ? null : s.state === "closed" ? 0 : writableDesiredSize(s.controller);
    }
    abort(reason = undefined) {
      const s = this.#s.stream;
      if (!s) return rejected(new TypeError("WritableStreamDefaultWriter.abort: the writer was released"));
      return wsAbort(s, reason);
    }
    close() {
      const s = this.#s.stream;
      if (!s) return rejected(new TypeError("WritableStreamDefaultWriter.close: the writer was released"));
      if (closeQueuedOrInFlight(s)) return rejected(new TypeError("WritableStreamDefaultWriter.close: the stream is already closing"));
      return wsClose(s);
    }
    releaseLock() {
      const w = this.#s;
      const s = w.stream;
      if (!s) return;
      const error = new TypeError("the writer was released");
      rejectReady(w, error);
      if (s.state === "writable" || s.state === "erroring") w.closed.reject(error);
      else w.closed = failed(error);
      handled(w.closed.promise);
      s.writer = null;
      w.stream = null;
    }
    write(chunk = undefined) {
      const s = this.#s.stream;
      if (!s) return rejected(new TypeError("WritableStreamDefaultWriter.write: the writer was released"));
      const c = s.controller;
      let size;
      try {
        size = c.size(chunk);
      } catch (error) {
        writableErrorIfNeeded(c, error);
        size = 1;
      }
      if (s.state === "errored" || s.state === "erroring") return rejected(s.storedError);
      if (closeQueuedOrInFlight(s) || s.state === "closed") return rejected(new TypeError("WritableStreamDefaultWriter.write: the stream is closing or closed"));
      const request = deferred();
      s.writeRequests.push(request);
      try {
        enqueueWithSize(c, chunk, size);
      } catch (error) {
        writableErrorIfNeeded(c, error);
        return request.promise;
      }
      if (!closeQueuedOrInFlight(s) && s.state === "writable") updateBackpressure(s, writableDesiredSize(c) <= 0);
      advanceQueueIfNeeded(c);
      return request.promise;
    }
  }

  // ---- pipeTo ----

  function pipeOptions(options) {
    if (options === undefined || options === null) return {};
    if (typeof options !== "object") throw new TypeError("pipeTo/pipeThrough: the options must be an object");
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof internal.AbortSignal)) throw new TypeError("pipeTo/pipeThrough: the 'signal' option must be an AbortSignal");
    return { preventClose: !!options.preventClose, preventAbort: !!options.preventAbort, preventCancel: !!options.preventCancel, signal };
  }

  function pipe(source, dest, { preventClose, preventAbort, preventCancel, signal }) {
    const reader = new ReadableStreamDefaultReader(source.obj);
    const writer = new WritableStreamDefaultWriter(dest.obj);
    const w = writerState(writer);
    source.disturbed = true;
    const done = deferred();
    let shuttingDown = false, currentWrite = resolved(), forgetAbort = () => {};
    function finalize(isError, error) {
      writer.releaseLock();
      reader.releaseLock();
      forgetAbort();
      if (isError) done.reject(error);
      else done.resolve();
    }
    function shutdown(action, isError, error) {
      if (shuttingDown) return;
      shuttingDown = true;
      const run = () => {
        if (!action) return finalize(isError, error);
        action().then(() => finalize(isError, error), (newError) => finalize(true, newError));
      };
      if (dest.state === "writable" && !closeQueuedOrInFlight(dest)) {
        const waitForWrites = () => {
          const last = currentWrite;
          return last.then(() => (last !== currentWrite ? waitForWrites() : undefined));
        };
        waitForWrites().then(run);
      } else {
        run();
      }
    }
    if (signal) {
      const abortAlgorithm = () => {
        const error = signal.reason;
        const actions = [];
        if (!preventAbort) actions.push(() => (dest.state === "writable" ? wsAbort(dest, error) : resolved()));
        if (!preventCancel) actions.push(() => (source.state === "readable" ? rsCancel(source, error) : resolved()));
        shutdown(() => Promise.all(actions.map((action) => action())), true, error);
      };
      if (signal.aborted) {
        abortAlgorithm();
        return done.promise;
      }
      forgetAbort = internal.onAbort(signal, abortAlgorithm);
    }
    // Errors and closes, forward and backward.
    const sourceErrored = () => {
      const error = source.storedError;
      if (!preventAbort) shutdown(() => wsAbort(dest, error), true, error);
      else shutdown(null, true, error);
    };
    const destErrored = () => {
      const error = dest.storedError;
      if (!preventCancel) shutdown(() => rsCancel(source, error), true, error);
      else shutdown(null, true, error);
    };
    const sourceClosed = () => {
      if (!preventClose) {
        shutdown(() => {
          if (closeQueuedOrInFlight(dest) || dest.state === "closed") return resolved();
          if (dest.state === "errored" || dest.state === "erroring") return rejected(dest.storedError);
          return wsClose(dest);
        });
      } else shutdown();
    };
    const destClosed = () => {
      const error = new TypeError("the destination of the pipe is closing or closed");
      if (!preventCancel) shutdown(() => rsCancel(source, error), true, error);
      else shutdown(null, true, error);
    };
    if (source.state === "errored") sourceErrored();
    else if (dest.state === "errored" || dest.state === "erroring") destErrored();
    else if (source.state === "closed") sourceClosed();
    else if (closeQueuedOrInFlight(dest) || dest.state === "closed") destClosed();
    reader.closed.then(() => shuttingDown || sourceClosed(), () => shuttingDown || sourceErrored());
    w.closed.promise.then(() => shuttingDown || destClosed(), () => shuttingDown || destErrored());
    const pump = () => {
      if (shuttingDown) return;
      w.ready.promise.then(() => {
        if (shuttingDown) return;
        return reader.read().then(({ value, done: end }) => {
          if (end) return;
          // A chunk read is written even when the pipe is shutting down
          // (shutdown waits for the writes).
          if (dest.state === "writable" && !closeQueuedOrInFlight(dest)) currentWrite = handled(writer.write(value));
          pump();
        });
      }).catch(() => {});
    };
    pump();
    return done.promise;
  }

  // ---- TransformStream ----

  let tsState;

  class TransformStream {
    #s;
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      const what = "Failed to construct 'TransformStream'";
      if (transformer === null || (transformer !== undefined && typeof transformer !== "object")) throw new TypeError(`${what}: the transformer must be an object`);
      const t = transformer || {};
      if (t.readableType !== undefined) throw new RangeError(`${what}: the transformer's readableType must be left out`);
      if (t.writableType !== undefined) throw new RangeError(`${what}: the transformer's writableType must be left out`);
      const ws = strategyOf(writableStrategy, 1, what), rs = strategyOf(readableStrategy, 0, what);
      const start = method(t, "start", what), transform = method(t, "transform", what), flush = method(t, "flush", what), cancel = method(t, "cancel", what);
      const startPromise = deferred();
      const s = (this.#s = { backpressure: undefined, backpressureChange: null, controller: null, readable: null, writable: null });
      s.writable = createWritable(() => startPromise.promise, (chunk) => sinkWrite(s, chunk), () => sinkClose(s), (reason) => sinkAbort(s, reason), ws.hwm, ws.size);
      s.readable = createReadable(() => startPromise.promise, () => sourcePull(s), (reason) => sourceCancel(s, reason), rs.hwm, rs.size);
      s.rs = rsState(s.readable);
      s.ws = wsState(s.writable);
      setBackpressure(s, true);
      const controller = new TransformStreamDefaultController(ILLEGAL);
      const c = (s.controller = tcState(controller));
      Object.assign(c, {
        stream: s,
        finish: null,
        transform: transform ? (chunk) => promiseCall(transform, t, chunk, controller) : (chunk) => {
          try {
            transformEnqueue(s, chunk);
            return resolved();
          } catch (error) {
            return rejected(error);
          }
        },
        flush: () => promiseCall(flush, t, controller),
        cancel: (reason) => promiseCall(cancel, t, reason),
      });
      try {
        startPromise.resolve(start && start.call(t, controller));
      } catch (error) {
        startPromise.reject(error);
        throw error;
      }
    }
    static {
      tsState = (stream) => {
        if (!(stream !== null && typeof stream === "object" && #s in stream)) throw new TypeError("the receiver is not a TransformStream");
        return stream.#s;
      };
    }
    get readable() {
      return tsState(this).readable;
    }
    get writable() {
      return tsState(this).writable;
    }
  }

  let tcState;
  class TransformStreamDefaultController {
    #s = {};
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    }
    static {
      tcState = (controller) => controller.#s;
    }
    get desiredSize() {
      return readableDesiredSize(this.#s.stream.rs.controller);
    }
    enqueue(chunk = undefined) {
      transformEnqueue(this.#s.stream, chunk);
    }
    error(reason = undefined) {
      transformError(this.#s.stream, reason);
    }
    terminate() {
      const s = this.#s.stream;
      readableClose(s.rs.controller);
      errorWritableAndUnblockWrite(s, new TypeError("the TransformStream was terminated"));
    }
  }

  function transformEnqueue(s, chunk) {
    const rc = s.rs.controller;
    if (!canCloseOrEnqueue(rc)) throw new TypeError("TransformStreamDefaultController.enqueue: the readable side is closed or errored; cannot enqueue");
    try {
      readableEnqueue(rc, chunk);
    } catch (error) {
      errorWritableAndUnblockWrite(s, error);
      throw s.rs.storedError;
    }
    const backpressure = !(readableDesiredSize(rc) > 0);
    if (backpressure !== s.backpressure) setBackpressure(s, true);
  }
  function transformError(s, error) {
    readableError(s.rs.controller, error);
    errorWritableAndUnblockWrite(s, error);
  }
  function clearTransform(c) {
    c.transform = c.flush = c.cancel = () => resolved();
  }
  function errorWritableAndUnblockWrite(s, error) {
    clearTransform(s.controller);
    writableErrorIfNeeded(s.ws.controller, error);
    if (s.backpressure) setBackpressure(s, false);
  }
  function setBackpressure(s, backpressure) {
    if (s.backpressureChange) s.backpressureChange.resolve();
    s.backpressureChange = deferred();
    s.backpressure = backpressure;
  }
  function performTransform(s, chunk) {
    return s.controller.transform(chunk).catch((error) => {
      transformError(s, error);
      throw error;
    });
  }
  function sinkWrite(s, chunk) {
    if (!s.backpressure) return performTransform(s, chunk);
    return s.backpressureChange.promise.then(() => {
      if (s.ws.state === "erroring") throw s.ws.storedError;
      return performTransform(s, chunk);
    });
  }
  // Runs the transformer's flush or cancel once, for the close, abort or
  // cancel that comes first.
  function finishOnce(s, start, onDone, onError) {
    const c = s.controller;
    if (c.finish) return c.finish.promise;
    const finish = (c.finish = deferred());
    const result = start(c);
    clearTransform(c);
    result.then(
      () => {
        try {
          onDone();
          finish.resolve();
        } catch (error) {
          finish.reject(error);
        }
      },
      (error) => {
        onError(error);
        finish.reject(error);
      },
    );
    return finish.promise;
  }
  function sinkAbort(s, reason) {
    return finishOnce(
      s,
      (c) => c.cancel(reason),
      () => {
        if (s.rs.state === "errored") throw s.rs.storedError;
        readableError(s.rs.controller, reason);
      },
      (error) => readableError(s.rs.controller, error),
    );
  }
  function sinkClose(s) {
    return finishOnce(
      s,
      (c) => c.flush(),
      () => {
        if (s.rs.state === "errored") throw s.rs.storedError;
        readableClose(s.rs.controller);
      },
      (error) => readableError(s.rs.controller, error),
    );
  }
  function sourcePull(s) {
    setBackpressure(s, false);
    return s.backpressureChange.promise;
  }
  function sourceCancel(s, reason) {
    const unblock = (error) => {
      writableErrorIfNeeded(s.ws.controller, error);
      if (s.backpressure) setBackpressure(s, false);
    };
    return finishOnce(
      s,
      (c) => c.cancel(reason),
      () => {
        if (s.ws.state === "errored") throw s.ws.storedError;
        unblock(reason);
      },
      unblock,
    );
  }

  // ---- queuing strategies ----

  function strategyInit(init, what) {
    internal.requireArgs(init === undefined ? 0 : 1, 1, what);
    if (init === null || typeof init !== "object" || init.highWaterMark === undefined) {
      throw new TypeError(`${what}: pass { highWaterMark: number }`);
    }
    return Number(init.highWaterMark);
  }
  // A queuing strategy class: a highWaterMark and a fixed size function.
  function strategyClass(name, size) {
    const what = `Failed to construct '${name}'`;
    const Strategy = class {
      #hwm;
      constructor(init) {
        this.#hwm = strategyInit(init, what);
      }
      get highWaterMark() { return this.#hwm; }
      get size() { return size; }
    };
    Object.defineProperty(Strategy, "name", { value: name });
    return Strategy;
  }
  const CountQueuingStrategy = strategyClass("CountQueuingStrategy", { size() { return 1; } }.size);
  const ByteLengthQueuingStrategy = strategyClass("ByteLengthQueuingStrategy", { size(chunk) { return chunk.byteLength; } }.size);

  // ---- text streams ----

  class TextEncoderStream {
    #t;
    constructor() {
      const encoder = new internal.TextEncoder();
      let pending = "";
      this.#t = new TransformStream({
        transform(chunk, controller) {
          let text = pending + String(chunk);
          pending = "";
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) {
            pending = text[text.length - 1];
            text = text.slice(0, -1);
          }
          if (text) controller.enqueue(encoder.encode(text));
        },
        flush(controller) {
          if (pending) controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
        },
      });
    }
    get encoding() { return "utf-8"; }
    get readable() { return this.#t.readable; }
    get writable() { return this.#t.writable; }
  }

  const asBytes = (chunk, what) => internal.bufferBytes(chunk, what);

  class TextDecoderStream {
    #t;
    #decoder;
    constructor(label = "utf-8", options = undefined) {
      const decoder = (this.#decoder = new internal.TextDecoder(label, options));
      const what = "TextDecoderStream";
      this.#t = new TransformStream({
        transform(chunk, controller) {
          const text = decoder.decode(asBytes(chunk, what), { stream: true });
          if (text) controller.enqueue(text);
        },
        flush(controller) {
          const text = decoder.decode();
          if (text) controller.enqueue(text);
        },
      });
    }
    get encoding() { return this.#decoder.encoding; }
    get fatal() { return this.#decoder.fatal; }
    get ignoreBOM() { return this.#decoder.ignoreBOM; }
    get readable() { return this.#t.readable; }
    get writable() { return this.#t.writable; }
  }


  const classes = {
    ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController, WritableStream, WritableStreamDefaultWriter,
    WritableStreamDefaultController, TransformStream, TransformStreamDefaultController, CountQueuingStrategy, ByteLengthQueuingStrategy,
    TextEncoderStream, TextDecoderStream,
  };
  Object.assign(internal, classes);
  for (const [name, value] of Object.entries(classes)) {
    define(name, value);
    internal.uncloneable.push(value);
  }
})();
