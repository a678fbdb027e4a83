// Loaded first (node --import ./polyfill.mjs peer.mjs): js-libp2p 3.x calls Promise.withResolvers,
// which Node 20 lacks (it arrived in Node 22). Defines it only when it is missing.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
    writable: true,
    configurable: true
  })
}
