/**
 * Child process of the raw IPC limit (bench/limits.ts `ipcMessageRate`): counts the messages its parent sends
 * over the IPC channel and acks the count every 500, until the parent kills it.
 */
let received = 0;
process.on('message', () => {
  if (++received % 500 === 0) process.send!({ received });
});
process.send!({ ready: true });
