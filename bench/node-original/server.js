// Benchmark baseline, not part of the product: the shape of Atlassian's original Node.js
// "Bitbucket Cloud Resource Owner Grant Sample App" (Express; a landing page with a form; the form
// POST asks the token endpoint for a token with the password grant and HTTP Basic client auth,
// then calls GET /2.0/user with it and shows the result as HTML). Node's http client with its
// default (keep-alive) agent stands in for the deprecated `request` module the original used.
'use strict';
const express = require('express');
const http = require('http');

const port = Number(process.env.PORT || 3001);
const bitbucketUrl = process.env.BITBUCKET_URL || 'http://127.0.0.1:3000/sandbox';
const apiUrl = process.env.BITBUCKET_API_URL || bitbucketUrl + '/api';
const consumerKey = process.env.BITBUCKET_CONSUMER_KEY || 'sandbox-consumer-key';
const consumerSecret = process.env.BITBUCKET_CONSUMER_SECRET || 'sandbox-consumer-secret';

// One HTTP exchange; resolves with the status and the parsed JSON body.
function call(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => {
        try { resolve({ status: res.statusCode, json: JSON.parse(data) }); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

const app = express();
app.use(express.urlencoded({ extended: false }));

app.get('/', (req, res) => {
  res.send(page('Bitbucket Cloud Resource Owner Grant Sample App',
    '<form method="post" action="/oauth-callback"><label>Username <input name="username"></label>' +
    '<label>Password <input name="password" type="password"></label><button>Sign in</button></form>'));
});

app.post('/oauth-callback', async (req, res) => {
  try {
    const form = new URLSearchParams({ grant_type: 'password', username: req.body.username, password: req.body.password }).toString();
    const token = await call('POST', bitbucketUrl + '/site/oauth2/access_token', {
      Authorization: 'Basic ' + Buffer.from(consumerKey + ':' + consumerSecret).toString('base64'),
      'Content-Type': 'application/x-www-form-urlencoded',
      'Content-Length': Buffer.byteLength(form),
    }, form);
    if (token.status !== 200) throw new Error(token.json.error_description || 'token request failed');
    const user = await call('GET', apiUrl + '/2.0/user', { Authorization: 'Bearer ' + token.json.access_token });
    if (user.status !== 200) throw new Error('GET /2.0/user answered ' + user.status);
    res.send(page('Signed in', `<p>Access token: <code>${escape(token.json.access_token)}</code></p>` +
      `<p>Hello, ${escape(user.json.display_name)}</p><pre>${escape(JSON.stringify(user.json, null, 2))}</pre>`));
  } catch (error) {
    res.status(500).send(page('Error', `<p>${escape(error.message)}</p>`));
  }
});

app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
