// samples/curl: fetch the URL in the payload and answer {msg: body}, or
// {msg: the error}. Whirl's own code for OpenWhisk's sample; it runs in
// the action sandbox, under the action network policy.
async function main(params) {
  let url = String(params.payload);
  console.log('Curl to ' + url);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    url = 'http://' + url;
  }
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
    const body = await res.text();
    console.log(body);
    return { msg: body };
  } catch (e) {
    const msg = 'curl: ' + (e.cause && e.cause.message ? e.cause.message : e.message);
    console.log(msg);
    return { msg: msg };
  }
}
