/*
 * GraphiQL at /graphql, wired to JBTestSuite:
 *
 * - queries and mutations: HTTP POST /graphql (application/json), with
 *   `Authorization: Bearer <token>` when the bar above GraphiQL holds a token, and no
 *   Authorization header at all without one (the schema is open; everything else answers
 *   "authentication required");
 * - subscriptions: WebSocket /graphql/ws (graphql-transport-ws, graphql-ws's client), the token
 *   sent as the connection_init payload `{ "Authorization": "Bearer <token>" }`. Changing the
 *   token reconnects the socket with the new one; running subscriptions carry on over it.
 *
 * Loaded after React, ReactDOM, GraphiQL (global `GraphiQL`), graphql-ws (global `graphqlWs`)
 * and session.js (global `jbtsSession`).
 */
(function () {
  'use strict';

  var session = window.jbtsSession;

  var DEFAULT_QUERY = [
    '# JBTestSuite GraphiQL',
    '#',
    '# Paste an API token in the bar above (the Docs',
    '# need none), then run with Ctrl-Enter.',
    '',
    '# The newest test runs, their counts and statistics',
    'query NewestRuns {',
    '  testRuns(first: 10) {',
    '    totalCount',
    '    nodes {',
    '      id',
    '      name',
    '      status',
    '      startedAt',
    '      completedAt',
    '      totalTests',
    '      passedTests',
    '      failedTests',
    '      skippedTests',
    '      stats {',
    '        passRate',
    '        avgDuration',
    '        p95Duration',
    '        retries',
    '        passedOnRetry',
    '      }',
    '    }',
    '  }',
    '}',
    '',
    '# Runs as they start, progress and finish, live:',
    '# uncomment, run it, then report results',
    '# (jbtestsuite report ...) and watch them arrive.',
    '#',
    '# subscription LiveRuns {',
    '#   testRunsUpdates {',
    '#     runId',
    '#     name',
    '#     status',
    '#     totalTests',
    '#     passedTests',
    '#     failedTests',
    '#     skippedTests',
    '#     startedAt',
    '#     completedAt',
    '#   }',
    '# }',
    '',
  ].join('\n');

  var statusEl = document.getElementById('jbts-status');

  function showStatus(text, state) {
    statusEl.textContent = text;
    statusEl.setAttribute('data-state', state || '');
  }

  var tokenCheck = 0;

  /** Says in the bar whether there is a token, and whose it is (or why it is refused). */
  function showTokenState() {
    var token = session.getToken();
    var check = ++tokenCheck;
    if (!token) {
      showStatus('No token: only the schema can be read.', '');
      return;
    }
    showStatus('Checking the token\u2026', '');
    post({ query: 'query TokenCheck { viewer { userId isAdmin } }' }, {}, true).then(
      function (answer) {
        if (check !== tokenCheck) return; // the token changed meanwhile
        var viewer = answer.body.data && answer.body.data.viewer;
        if (viewer) {
          showStatus('Token of ' + viewer.userId + (viewer.isAdmin ? ' (admin)' : '') + ': requests are sent with it.', 'ok');
        } else {
          var error = answer.body.errors && answer.body.errors[0];
          showStatus('The token was refused: ' + ((error && error.message) || 'HTTP ' + answer.status), 'error');
        }
      },
      function () {
        if (check === tokenCheck) showStatus('The server cannot be reached.', 'error');
      }
    );
  }

  // ---- the WebSocket client, one per token ------------------------------------------------

  var wsClient = null;

  function closeCodeMessage(event) {
    var reason = event.reason ? ': ' + event.reason : '';
    return 'WebSocket closed (' + event.code + reason + ')';
  }

  function newWsClient() {
    return graphqlWs.createClient({
      url: session.websocketUrl(),
      connectionParams: session.connectionParams,
      // the socket closes when the last subscription ends
      lazy: true,
      retryAttempts: 5,
      retryWait: function (retries) {
        var delay = Math.min(30000, 1000 * Math.pow(2, retries));
        return new Promise(function (resolve) {
          setTimeout(resolve, delay / 2 + Math.random() * (delay / 2));
        });
      },
      // a token refused (4401, 4403) will not be accepted on a retry either
      shouldRetry: function (errOrClose) {
        return !!errOrClose && typeof errOrClose.code === 'number' &&
          errOrClose.code !== 4401 && errOrClose.code !== 4403;
      },
      on: {
        closed: function (event) {
          if (event && (event.code === 4401 || event.code === 4403)) {
            showStatus(closeCodeMessage(event), 'error');
          }
        },
      },
    });
  }

  /**
   * Reconnects with the current token: the open socket is dropped and the client connects
   * again (connection_init reads the token anew), resubscribing what was running.
   */
  function reconnectWsClient() {
    if (wsClient) wsClient.terminate();
  }

  function currentWsClient() {
    if (!wsClient) wsClient = newWsClient();
    return wsClient;
  }

  // ---- the fetcher ------------------------------------------------------------------------

  /** The operation a request runs ('query', 'mutation', 'subscription'), from its AST. */
  function operationType(params, documentAST) {
    if (documentAST && documentAST.definitions) {
      var operations = documentAST.definitions.filter(function (d) {
        return d.kind === 'OperationDefinition';
      });
      var chosen = operations.filter(function (op) {
        return params.operationName ? op.name && op.name.value === params.operationName : true;
      });
      if (chosen.length >= 1) return chosen[0].operation;
    }
    // without an AST: the document's first operation keyword
    var match = /^\s*(query|mutation|subscription)\b/m.exec(params.query.replace(/#.*$/gm, ''));
    return match ? match[1] : 'query';
  }

  /** Whether the request only reads the schema (what GraphiQL sends before anything else). */
  function isIntrospection(params) {
    return params.operationName === 'IntrospectionQuery' ||
      /^\s*query\s+IntrospectionQuery\b/.test(params.query);
  }

  /** Headers typed in GraphiQL's Headers tab win over the bar's token. */
  function requestHeaders(extra, withToken) {
    var headers = {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json;q=0.9',
    };
    if (withToken) {
      var auth = session.authHeaders();
      Object.keys(auth).forEach(function (k) {
        headers[k] = auth[k];
      });
    }
    Object.keys(extra || {}).forEach(function (k) {
      headers[k] = extra[k];
    });
    return headers;
  }

  function post(params, extraHeaders, withToken) {
    return fetch(session.GRAPHQL_PATH, {
      method: 'POST',
      headers: requestHeaders(extraHeaders, withToken),
      body: JSON.stringify({
        query: params.query,
        variables: params.variables || undefined,
        operationName: params.operationName || undefined,
      }),
      credentials: 'same-origin',
    }).then(function (response) {
      return response.text().then(function (text) {
        var body;
        try {
          body = JSON.parse(text);
        } catch (e) {
          // not a GraphQL response (a proxy's page, an empty body): shown as an error
          return { status: response.status, body: { errors: [{ message: 'HTTP ' + response.status + ': ' + text.slice(0, 500) }] } };
        }
        return { status: response.status, body: body };
      });
    });
  }

  function httpFetch(params, opts) {
    var extraHeaders = (opts && opts.headers) || {};
    var hasToken = !!session.getToken();
    return post(params, extraHeaders, true).then(function (answer) {
      // A refused token must not hide the schema: introspection is retried without it, and
      // the bar says why the token was refused.
      if (answer.status === 401 && hasToken && isIntrospection(params)) {
        var message = answer.body.errors && answer.body.errors[0] && answer.body.errors[0].message;
        showStatus('The token was refused: ' + (message || 'unauthenticated'), 'error');
        return post(params, extraHeaders, false).then(function (retry) {
          return retry.body;
        });
      }
      return answer.body;
    });
  }

  /** A subscription as an observable GraphiQL shows message by message. */
  function wsSubscribe(params) {
    return {
      subscribe: function (sinkOrNext, maybeError, maybeComplete) {
        var sink = typeof sinkOrNext === 'function'
          ? { next: sinkOrNext, error: maybeError || function () {}, complete: maybeComplete || function () {} }
          : sinkOrNext;
        var dispose = currentWsClient().subscribe(
          { query: params.query, variables: params.variables || undefined, operationName: params.operationName || undefined },
          {
            next: function (value) {
              sink.next(value);
            },
            // the server's refusal (a list of GraphQL errors) or a closed socket, shown in
            // the response pane as errors rather than as an exception
            error: function (err) {
              var errors;
              if (Array.isArray(err)) {
                errors = err;
              } else if (err && typeof err.code === 'number' && 'reason' in err) {
                errors = [{ message: closeCodeMessage(err) }];
              } else {
                errors = [{ message: (err && err.message) || String(err) }];
              }
              sink.next({ errors: errors });
              sink.complete();
            },
            complete: function () {
              sink.complete();
            },
          }
        );
        return { unsubscribe: dispose };
      },
    };
  }

  function makeFetcher() {
    return function fetcher(params, opts) {
      if (operationType(params, opts && opts.documentAST) === 'subscription') {
        return wsSubscribe(params);
      }
      return httpFetch(params, opts);
    };
  }

  // ---- the page ---------------------------------------------------------------------------

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));

  function render() {
    root.render(
      React.createElement(GraphiQL, {
        // a new fetcher per token: GraphiQL then reloads the schema with it
        fetcher: makeFetcher(),
        defaultQuery: DEFAULT_QUERY,
        defaultEditorToolsVisibility: false,
        shouldPersistHeaders: false,
      })
    );
  }

  var input = document.getElementById('jbts-token');
  session.bindTokenInput(input);

  document.getElementById('jbts-token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    session.setToken(input.value);
  });

  var showButton = document.getElementById('jbts-token-show');
  showButton.addEventListener('click', function () {
    var show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    showButton.textContent = show ? 'Hide' : 'Show';
    showButton.setAttribute('aria-pressed', String(show));
  });

  document.getElementById('jbts-token-clear').addEventListener('click', function () {
    input.value = '';
    session.setToken('');
  });

  session.onTokenChange(function () {
    // the open socket was authenticated with the old token
    reconnectWsClient();
    showTokenState();
    render();
  });

  showTokenState();
  render();
})();
