/*
 * The live dashboard at /.
 *
 * A client of the public GraphQL API only, and meant to be read as an example of one:
 *
 * - queries over HTTP: POST /graphql, `Content-Type: application/json`, the token as
 *   `Authorization: Bearer <token>` (see `graphql()`);
 * - live updates over WebSocket: /graphql/ws, protocol graphql-transport-ws (graphql-ws's
 *   client), the token in the connection_init payload (see `Live`).
 *
 * Pages (hash routes):
 *   #/            the newest runs with a progress bar each, live from `testRunsUpdates`;
 *                 the pass-rate trend (`passRateTrend`), the flakiest cases
 *                 (`flakiestTestCases`) and the most failing ones (`mostFailingTestCases`)
 *   #/runs/<id>   one run: its executions, live from `testRunProgress`, and its failures with
 *                 their failing steps and error messages
 *
 * A live stream can miss changes (a socket drop, a resubscription), so after either the page
 * re-reads what it shows over HTTP; updates that arrive while that read is under way win over
 * it, being newer.
 *
 * Every string from the API reaches the page through textContent or setAttribute, never as
 * HTML. Everything is bounded: list sizes, message lengths, reconnect backoff.
 *
 * Hooks for browser tests: see README.md next to this file.
 */
(function () {
  'use strict';

  var session = window.jbtsSession;

  /** Upper bounds of what the page holds and shows. */
  var LIMITS = {
    runs: 50, // runs on the home page
    executionsPage: 100, // executions per request (the API's largest page)
    executions: 1000, // executions shown on a run's page
    failures: 50, // failed executions detailed on a run's page
    comparison: 20, // cases named in each list of the comparison with the previous run
    analytics: 10, // rows of the flaky and failing lists
    trendDays: 30, // days of the pass-rate chart
    text: 4000, // characters of an error message shown
    paints: 1000, // entries kept in window.jbtsTiming.paints
  };

  /** Statuses after which a run or an execution no longer changes. */
  var FINISHED_RUN = { PASSED: true, FAILED: true, CANCELLED: true, ABORTED: true };

  var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  // Timing hooks for browser tests: when the runs list was first painted with data, and when
  // each live change of a run's progress bar was painted.
  var timing = (window.jbtsTiming = window.jbtsTiming || { firstRender: null, paints: [] });

  // ======================================================================================
  // GraphQL documents. Every field the page uses is named here.
  // ======================================================================================

  var VIEWER_QUERY =
    'query DashboardViewer { viewer { userId isAdmin } }';

  var RUNS_QUERY = [
    'query DashboardRuns($first: Int!) {',
    '  testRuns(first: $first) {',
    '    totalCount',
    '    nodes {',
    '      id name status createdAt startedAt completedAt triggeredBy',
    '      totalTests passedTests failedTests skippedTests',
    '    }',
    '  }',
    '}',
  ].join('\n');

  var RUNS_SUBSCRIPTION = [
    'subscription DashboardRunsUpdates {',
    '  testRunsUpdates {',
    '    runId name status startedAt completedAt triggeredBy',
    '    totalTests passedTests failedTests skippedTests',
    '  }',
    '}',
  ].join('\n');

  var TREND_QUERY = [
    'query DashboardPassRate($from: NaiveDate!, $to: NaiveDate!) {',
    '  passRateTrend(from: $from, to: $to) { day passRate passed failed skipped }',
    '}',
  ].join('\n');

  var FLAKIEST_QUERY = [
    'query DashboardFlakiest($days: Int!, $limit: Int!) {',
    '  flakiestTestCases(days: $days, limit: $limit) {',
    '    testCase { id name identityKey quarantine { reason owner expiresAt } }',
    '    flakiness { flakyScore flips failures passedOnRetry sampleSize reasons classification }',
    '  }',
    '}',
  ].join('\n');

  var MOST_FAILING_QUERY = [
    'query DashboardMostFailing($days: Int!, $limit: Int!) {',
    '  mostFailingTestCases(days: $days, limit: $limit) {',
    '    testCase { id name identityKey }',
    '    failures executions lastFailureAt',
    '  }',
    '}',
  ].join('\n');

  var RUN_QUERY = [
    'query DashboardRun($id: UUID!, $first: Int!, $after: String) {',
    '  testRun(id: $id) {',
    '    id name status createdAt startedAt completedAt triggeredBy runKey adHoc',
    '    totalTests passedTests failedTests skippedTests quarantinedFailedTests infrastructureFailure',
    '    commitSha branch buildUrl environment',
    '    project { key name }',
    '    testSuite { id name }',
    '    stats { passRate avgDuration p95Duration retries passedOnRetry }',
    '    executions(first: $first, after: $after) {',
    '      totalCount',
    '      pageInfo { hasNextPage endCursor }',
    '      nodes {',
    '        id status retryAttempt startedAt completedAt durationMs errorMessage',
    '        testCaseId testCase { name }',
    '      }',
    '    }',
    '  }',
    '}',
  ].join('\n');

  var RUN_FAILURES_QUERY = [
    'query DashboardRunFailures($runId: UUID!, $first: Int!) {',
    '  testExecutions(filter: { runId: $runId, status: [FAILED] }, first: $first) {',
    '    totalCount',
    '    nodes {',
    '      id retryAttempt completedAt errorMessage',
    '      testCase { id name identityKey }',
    '      stepExecutions {',
    '        id status errorMessage actualResult',
    '        testStep { name orderIndex }',
    '      }',
    '    }',
    '  }',
    '}',
  ].join('\n');

  var RUN_COMPARISON_QUERY = [
    'query DashboardRunComparison($id: UUID!, $first: Int!) {',
    '  testRun(id: $id) {',
    '    id',
    '    comparison {',
    '      base { id name commitSha completedAt }',
    '      counts { newFailures fixed stillFailing newTests missingTests durationRegressions unchanged }',
    '      newFailures(first: $first) { testCaseId testCase { name identityKey } headStatus errorFingerprint }',
    '      fixed(first: $first) { testCaseId testCase { name identityKey } }',
    '      stillFailing(first: $first) { testCaseId testCase { name identityKey } }',
    '    }',
    '  }',
    '}',
  ].join('\n');

  var RUN_STATS_QUERY = [
    'query DashboardRunStats($id: UUID!) {',
    '  testRun(id: $id) { id stats { passRate avgDuration p95Duration retries passedOnRetry } }',
    '}',
  ].join('\n');

  var RUN_PROGRESS_SUBSCRIPTION = [
    'subscription DashboardRunProgress($runId: UUID!) {',
    '  testRunProgress(runId: $runId) {',
    '    runId name status startedAt completedAt seq snapshot percentComplete',
    '    totalTests passedTests failedTests skippedTests pendingTests runningTests',
    '    changedExecutions {',
    '      id runId testCaseId testCaseName status retryAttempt',
    '      startedAt completedAt durationMs errorMessage',
    '    }',
    '  }',
    '}',
  ].join('\n');

  // ======================================================================================
  // DOM and formatting helpers
  // ======================================================================================

  function $(id) {
    return document.getElementById(id);
  }

  /**
   * Creates an element. `attrs`: attributes ('class', 'data-*', ...) and, under 'text', its
   * text; `children`: nodes or strings (as text). Never parses HTML.
   */
  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    appendAll(node, children);
    return node;
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';

  /** The same for SVG elements. */
  function s(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    appendAll(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'text') node.textContent = String(value);
      else node.setAttribute(name, value === true ? '' : String(value));
    });
  }

  function appendAll(node, children) {
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** Shows `message` in an error paragraph, or hides it (null). */
  function showError(node, message) {
    node.hidden = !message;
    node.textContent = message || '';
  }

  /** A long text cut to LIMITS.text characters. */
  function bounded(text) {
    text = String(text);
    return text.length > LIMITS.text ? text.slice(0, LIMITS.text) + '\u2026' : text;
  }

  function formatDateTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  /** "5 min ago", "2 h ago", ... */
  function formatAgo(iso) {
    if (!iso) return '';
    var seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!isFinite(seconds)) return '';
    if (seconds < 45) return 'just now';
    if (seconds < 3600) return Math.round(seconds / 60) + ' min ago';
    if (seconds < 86400) return Math.round(seconds / 3600) + ' h ago';
    if (seconds < 86400 * 30) return Math.round(seconds / 86400) + ' d ago';
    return new Date(iso).toLocaleDateString();
  }

  /** A duration in milliseconds as "850 ms", "12.4 s", "3 min 5 s", "1 h 2 min". */
  function formatDuration(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var sec = ms / 1000;
    if (sec < 60) return (Math.round(sec * 10) / 10) + ' s';
    var min = Math.floor(sec / 60);
    if (min < 60) return min + ' min ' + Math.round(sec % 60) + ' s';
    return Math.floor(min / 60) + ' h ' + (min % 60) + ' min';
  }

  /** "1 failure", "3 failures". */
  function plural(count, noun) {
    return count + ' ' + noun + (count === 1 ? '' : 's');
  }

  function formatPercent(value) {
    if (value === null || value === undefined || !isFinite(value)) return '\u2013';
    return (Math.round(value * 10) / 10) + '%';
  }

  /** A status badge; its colour comes from the stylesheet by status. */
  function badge(status) {
    return h('span', { class: 'badge', 'data-status': status, text: status.toLowerCase() });
  }

  function timeElement(iso, prefix) {
    return h('time', {
      datetime: iso || null,
      title: formatDateTime(iso),
      'data-ago': iso || null,
      'data-prefix': prefix || '',
      text: iso ? (prefix || '') + formatAgo(iso) : '',
    });
  }

  /** Refreshes the "... ago" of every <time data-ago> on the page. */
  function refreshAgo() {
    var nodes = document.querySelectorAll('time[data-ago]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = nodes[i].getAttribute('data-prefix') + formatAgo(nodes[i].getAttribute('data-ago'));
    }
  }

  /** Today and `days - 1` days before, as UTC dates (YYYY-MM-DD), for NaiveDate arguments. */
  function dayRange(days) {
    var to = new Date();
    var from = new Date(to.getTime() - (days - 1) * 86400000);
    return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
  }

  /** Calls `fn` once, `ms` after the last of a burst of calls. */
  function debounce(fn, ms) {
    var timer = null;
    var debounced = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        timer = null;
        fn();
      }, ms);
    };
    debounced.cancel = function () {
      clearTimeout(timer);
      timer = null;
    };
    return debounced;
  }

  // ======================================================================================
  // Progress bars (runs list and run page)
  // ======================================================================================

  /**
   * The figures of a run's bar. `percent` is the share of its executions that finished
   * (passed, failed or skipped) out of its total, 0 to 100, rounded to a whole number.
   */
  function barFigures(run) {
    var total = run.totalTests || 0;
    var finished = (run.passedTests || 0) + (run.failedTests || 0) + (run.skippedTests || 0);
    return {
      total: total,
      passed: run.passedTests || 0,
      failed: run.failedTests || 0,
      skipped: run.skippedTests || 0,
      percent: total > 0 ? Math.min(100, Math.round((100 * finished) / total)) : 0,
    };
  }

  function createBar() {
    return h('div', { class: 'bar', 'data-progress': true, role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, [
      h('span', { class: 'bar__seg', 'data-kind': 'passed' }),
      h('span', { class: 'bar__seg', 'data-kind': 'failed' }),
      h('span', { class: 'bar__seg', 'data-kind': 'skipped' }),
    ]);
  }

  /** Sets a bar to `figures`; answers whether anything changed. */
  function updateBar(bar, figures) {
    var key = [figures.percent, figures.passed, figures.failed, figures.skipped, figures.total].join('/');
    if (bar.getAttribute('data-key') === key) return false;
    bar.setAttribute('data-key', key);
    bar.setAttribute('data-percent', figures.percent);
    bar.setAttribute('data-passed', figures.passed);
    bar.setAttribute('data-failed', figures.failed);
    bar.setAttribute('data-skipped', figures.skipped);
    bar.setAttribute('data-total', figures.total);
    bar.setAttribute('aria-valuenow', figures.percent);
    bar.setAttribute(
      'title',
      figures.passed + ' passed, ' + figures.failed + ' failed, ' + figures.skipped + ' skipped of ' + figures.total
    );
    var segments = bar.children;
    var counts = [figures.passed, figures.failed, figures.skipped];
    for (var i = 0; i < segments.length; i++) {
      var width = figures.total > 0 ? Math.min(100, (100 * counts[i]) / figures.total) : 0;
      segments[i].style.width = width + '%';
    }
    return true;
  }

  /** Records, once the change is on screen, that a live update changed a run's bar. */
  function recordPaint(runId, percent) {
    window.requestAnimationFrame(function () {
      timing.paints.push({ runId: runId, at: Date.now(), percent: percent });
      if (timing.paints.length > LIMITS.paints) timing.paints.splice(0, timing.paints.length - LIMITS.paints);
    });
  }

  // ======================================================================================
  // GraphQL over HTTP
  // ======================================================================================

  /** An error answered by the API, with its `extensions.code` and the HTTP status. */
  function ApiError(message, code, status) {
    var error = new Error(message);
    error.code = code || null;
    error.status = status || 0;
    return error;
  }

  /**
   * Runs a query; resolves to its `data`, rejects with an ApiError carrying the first error's
   * message (an answer with errors is not shown half).
   */
  function graphql(query, variables) {
    var headers = {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json;q=0.9',
    };
    var auth = session.authHeaders();
    Object.keys(auth).forEach(function (k) {
      headers[k] = auth[k];
    });
    return fetch(session.GRAPHQL_PATH, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables || {} }),
      credentials: 'same-origin',
    }).then(
      function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (e) {
            throw ApiError('The server answered ' + response.status + ' without a GraphQL response', null, response.status);
          }
          var errors = (body && body.errors) || [];
          if (errors.length) {
            var first = errors[0] || {};
            var code = (first.extensions && first.extensions.code) || (response.status === 401 ? 'UNAUTHENTICATED' : null);
            throw ApiError(first.message || 'request failed', code, response.status);
          }
          if (!response.ok || !body || !body.data) {
            throw ApiError('The server answered ' + response.status, null, response.status);
          }
          return body.data;
        });
      },
      function () {
        throw ApiError('The server cannot be reached', 'NETWORK', 0);
      }
    );
  }

  /** Whether an error means the token is missing or refused. */
  function isAuthError(error) {
    return !!error && (error.code === 'UNAUTHENTICATED' || error.status === 401);
  }

  // ======================================================================================
  // GraphQL over WebSocket
  // ======================================================================================

  /** A close event (or graphql-ws's stand-in for one). */
  function isCloseEvent(value) {
    return !!value && typeof value.code === 'number' && 'reason' in value;
  }

  /** The server closes 4401 (no token) or 4403 (token refused, revoked, expired). */
  function isAuthClose(event) {
    return isCloseEvent(event) && (event.code === 4401 || event.code === 4403);
  }

  /** Exponential backoff with jitter, 1 s doubling to at most 30 s. */
  function backoff(attempt) {
    var ceiling = Math.min(30000, 1000 * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /**
   * The WebSocket connection: one graphql-ws client per token. It reconnects by itself
   * (backoff as above) and resubscribes what was running; after such a reconnect the current
   * page re-reads its data, since changes made while the socket was down were not sent.
   */
  var Live = {
    client: null,
    pingTimer: null,

    start: function () {
      Live.stop();
      var client = graphqlWs.createClient({
        url: session.websocketUrl(),
        // read at every (re)connection: the current token
        connectionParams: session.connectionParams,
        lazy: true, // connects on the first subscription...
        lazyCloseTimeout: 5000, // ...and stays open a moment after the last (page changes)
        keepAlive: 15000, // a ping every 15 s; see `pong` below
        retryAttempts: Infinity,
        retryWait: function (retries) {
          return new Promise(function (resolve) {
            setTimeout(resolve, backoff(retries));
          });
        },
        shouldRetry: function (errOrClose) {
          return isCloseEvent(errOrClose) && !isAuthClose(errOrClose);
        },
        on: {
          connecting: function () {
            if (client === Live.client) setLiveState('connecting');
          },
          connected: function () {
            if (client !== Live.client) return;
            setLiveState('live');
            // every connection, the first too: a page's first read may have been answered
            // before its subscription was registered, and changes since then are not resent
            App.resync();
          },
          ping: function (received) {
            // our ping: without a pong within 10 s the socket is dead; drop it to reconnect
            if (received || client !== Live.client) return;
            clearTimeout(Live.pingTimer);
            Live.pingTimer = setTimeout(function () {
              if (client === Live.client) client.terminate();
            }, 10000);
          },
          pong: function (received) {
            if (received) clearTimeout(Live.pingTimer);
          },
          closed: function (event) {
            clearTimeout(Live.pingTimer);
            if (client !== Live.client) return;
            if (isAuthClose(event)) {
              App.authFailed(event.reason || 'The server refused the token');
            } else if (event && event.code === 1000) {
              setLiveState('idle');
            } else {
              setLiveState('reconnecting');
            }
          },
        },
      });
      Live.client = client;
    },

    stop: function () {
      clearTimeout(Live.pingTimer);
      if (Live.client) {
        var client = Live.client;
        Live.client = null;
        // rejects when the connection had failed anyway (a refused token): nothing to do
        Promise.resolve(client.dispose()).catch(function () {});
      }
      setLiveState('offline');
    },

    /**
     * Subscribes; `handlers.data(data)` for each message, `handlers.error(message)` for a
     * refusal, `handlers.restarted()` after the subscription had to be started again (the
     * caller re-reads what it may have missed). Answers a function that ends it.
     */
    subscribe: function (query, variables, handlers) {
      var stopped = false;
      var dispose = null;
      var attempts = 0;
      var timer = null;

      // codes of refusals that may pass later (the others are final: not found, invalid)
      var TRANSIENT = { RATE_LIMITED: true, TOO_MANY_SUBSCRIPTIONS: true, TIMEOUT: true, INTERNAL_SERVER_ERROR: true };

      function restartLater() {
        if (stopped) return;
        clearTimeout(timer);
        timer = setTimeout(function () {
          start();
          if (handlers.restarted) handlers.restarted();
        }, Math.max(2000, backoff(attempts++)));
      }

      function start() {
        if (stopped || !Live.client) return;
        dispose = Live.client.subscribe(
          { query: query, variables: variables || {} },
          {
            next: function (message) {
              attempts = 0;
              if (message.errors && message.errors.length) handlers.error(message.errors[0].message);
              if (message.data) handlers.data(message.data);
            },
            error: function (err) {
              dispose = null;
              if (stopped) return;
              if (isAuthClose(err)) return; // the `closed` listener shows it
              if (Array.isArray(err)) {
                // the server refused the subscription (the socket stays open)
                var first = err[0] || {};
                handlers.error(first.message || 'subscription refused');
                if (first.extensions && TRANSIENT[first.extensions.code]) restartLater();
              } else {
                // the socket closed for good (a protocol error): start over after a while
                handlers.error(isCloseEvent(err) ? 'live updates stopped (' + err.code + ' ' + err.reason + ')' : String(err && err.message || err));
                restartLater();
              }
            },
            complete: function () {
              // the server ended it (it is shutting down): start over after a while
              dispose = null;
              restartLater();
            },
          }
        );
      }

      start();
      return function stop() {
        stopped = true;
        clearTimeout(timer);
        if (dispose) dispose();
        dispose = null;
      };
    },
  };

  function setLiveState(state) {
    var node = $('live-status');
    var labels = {
      offline: 'offline',
      connecting: 'connecting\u2026',
      live: 'live',
      idle: 'live (idle)',
      reconnecting: 'reconnecting\u2026',
    };
    node.setAttribute('data-state', state);
    node.textContent = labels[state] || state;
  }

  // ======================================================================================
  // Home page: runs, trend, flaky and failing cases
  // ======================================================================================

  function HomeView() {
    this.runs = new Map(); // id -> run (the fields of RUNS_QUERY; `id` also for live ones)
    this.order = []; // ids, newest first
    this.rows = new Map(); // id -> <li>
    this.totalCount = null;
    this.stops = [];
    this.timers = [];
    this.readStartedAt = 0;
    this.destroyed = false;
    var self = this;
    this.refreshAnalyticsSoon = debounce(function () {
      self.loadAnalytics();
    }, 5000);
    this.resyncSoon = debounce(function () {
      self.loadRuns();
    }, 500);
  }

  HomeView.prototype.mount = function () {
    var self = this;
    $('view-home').hidden = false;
    // subscribe first, then read: nothing falls between the two
    this.stops.push(
      Live.subscribe(RUNS_SUBSCRIPTION, {}, {
        data: function (data) {
          self.onRunUpdate(data.testRunsUpdates);
        },
        error: function (message) {
          showError($('runs-error'), 'Live updates: ' + message);
        },
        restarted: function () {
          self.resyncSoon();
        },
      })
    );
    this.loadRuns();
    this.loadAnalytics();
    this.timers.push(setInterval(function () {
      self.loadAnalytics();
    }, 60000));
  };

  HomeView.prototype.unmount = function () {
    this.destroyed = true;
    this.stops.forEach(function (stop) {
      stop();
    });
    this.timers.forEach(clearInterval);
    this.refreshAnalyticsSoon.cancel();
    this.resyncSoon.cancel();
    $('view-home').hidden = true;
  };

  /** After a gap in the live stream: read the list again. */
  HomeView.prototype.resync = function () {
    this.resyncSoon();
  };

  HomeView.prototype.loadRuns = function () {
    var self = this;
    var startedAt = performance.now();
    this.readStartedAt = startedAt;
    graphql(RUNS_QUERY, { first: LIMITS.runs }).then(
      function (data) {
        if (self.destroyed || self.readStartedAt !== startedAt) return;
        showError($('runs-error'), null);
        self.merge(data.testRuns.nodes, startedAt);
        self.totalCount = data.testRuns.totalCount;
        self.render();
        if (timing.firstRender === null) {
          window.requestAnimationFrame(function () {
            if (timing.firstRender === null) timing.firstRender = performance.now();
          });
        }
      },
      function (error) {
        if (self.destroyed) return;
        if (isAuthError(error)) return App.authFailed(error.message);
        showError($('runs-error'), 'The runs cannot be read: ' + error.message);
      }
    );
  };

  /**
   * Takes the list read at `readAt` as the truth, except for runs a live update changed
   * since (newer than the read) and runs that appeared live meanwhile.
   */
  HomeView.prototype.merge = function (nodes, readAt) {
    var self = this;
    var next = new Map();
    nodes.forEach(function (node) {
      var known = self.runs.get(node.id);
      next.set(node.id, known && known.liveAt > readAt ? known : node);
    });
    var newer = this.order.filter(function (id) {
      var run = self.runs.get(id);
      return !next.has(id) && run.liveAt > readAt;
    });
    newer.forEach(function (id) {
      next.set(id, self.runs.get(id));
    });
    this.runs = next;
    this.order = newer.concat(nodes.map(function (n) {
      return n.id;
    }));
    this.trim();
  };

  /** Where a run started at `startedAt` (null: not yet) goes in the newest-first list. */
  HomeView.prototype.insertionIndex = function (startedAt) {
    var self = this;
    var when = startedAt ? Date.parse(startedAt) : Infinity;
    var index = this.order.findIndex(function (id) {
      var run = self.runs.get(id);
      var time = Date.parse(run.startedAt || run.createdAt || '');
      return !(time > when); // not newer (a run without a time counts as newest)
    });
    return index < 0 ? this.order.length : index;
  };

  HomeView.prototype.trim = function () {
    while (this.order.length > LIMITS.runs) this.runs.delete(this.order.pop());
  };

  /**
   * A `testRunsUpdates` message: a run was created (unknown id), changed status, or its
   * counters moved. Every message carries the run's whole current state.
   */
  HomeView.prototype.onRunUpdate = function (update) {
    if (!update || !update.runId) return;
    var run = this.runs.get(update.runId);
    var isNew = !run;
    if (isNew) {
      // newest first: placed by its start (a run not started yet is the newest); one older
      // than the whole list is not shown
      var index = this.insertionIndex(update.startedAt);
      if (index >= LIMITS.runs) return;
      run = { id: update.runId, createdAt: null };
      this.runs.set(run.id, run);
      this.order.splice(index, 0, run.id);
      if (this.totalCount !== null) this.totalCount += 1;
    }
    var wasFinished = FINISHED_RUN[run.status];
    run.name = update.name;
    run.status = update.status;
    run.startedAt = update.startedAt;
    run.completedAt = update.completedAt;
    run.triggeredBy = update.triggeredBy;
    run.totalTests = update.totalTests;
    run.passedTests = update.passedTests;
    run.failedTests = update.failedTests;
    run.skippedTests = update.skippedTests;
    run.liveAt = performance.now();
    this.trim();
    var changed = this.render([run.id]);
    if (changed.indexOf(run.id) >= 0 || isNew) recordPaint(run.id, barFigures(run).percent);
    // a run that just finished moves the analytics
    if (FINISHED_RUN[run.status] && !wasFinished) this.refreshAnalyticsSoon();
  };

  /**
   * Brings the list on screen in line with the state: rows created, updated, moved and
   * removed. `only`: the ids whose data changed (all when absent). Answers the ids whose
   * progress bar changed.
   */
  HomeView.prototype.render = function (only) {
    var self = this;
    var list = $('runs');
    var changedBars = [];
    var wanted = new Set(this.order);
    this.rows.forEach(function (row, id) {
      if (!wanted.has(id)) {
        row.remove();
        self.rows.delete(id);
      }
    });
    var previous = null;
    this.order.forEach(function (id) {
      var row = self.rows.get(id);
      if (!row) {
        row = self.createRow(id);
        self.rows.set(id, row);
        self.updateRow(row, self.runs.get(id));
      } else if (!only || only.indexOf(id) >= 0) {
        if (self.updateRow(row, self.runs.get(id))) changedBars.push(id);
      }
      // keep the DOM order equal to `order`, moving only what is out of place
      var expected = previous ? previous.nextSibling : list.firstChild;
      if (expected !== row) list.insertBefore(row, expected);
      previous = row;
    });
    $('runs-empty').hidden = this.order.length > 0;
    $('runs-count').textContent =
      this.totalCount === null
        ? ''
        : this.totalCount > this.order.length
          ? 'newest ' + this.order.length + ' of ' + this.totalCount
          : this.order.length + (this.order.length === 1 ? ' run' : ' runs');
    return changedBars;
  };

  HomeView.prototype.createRow = function (id) {
    var link = h('a', { class: 'run__link', href: '#/runs/' + encodeURIComponent(id) }, [
      h('span', { class: 'run__status' }),
      h('span', { class: 'run__name' }),
      h('span', { class: 'run__meta' }),
      createBar(),
      h('span', { class: 'run__counts' }),
    ]);
    return h('li', { class: 'run', 'data-run-id': id }, [link]);
  };

  /** Fills a row with a run; answers whether its bar changed. */
  HomeView.prototype.updateRow = function (row, run) {
    row.setAttribute('data-status', run.status);
    var status = row.querySelector('.run__status');
    if (status.getAttribute('data-value') !== run.status) {
      status.setAttribute('data-value', run.status);
      clear(status);
      status.appendChild(badge(run.status));
    }
    row.querySelector('.run__name').textContent = run.name;
    row.querySelector('.run__name').title = run.name;
    var meta = row.querySelector('.run__meta');
    clear(meta);
    var when = run.startedAt || run.createdAt;
    appendAll(meta, [
      when ? timeElement(when, run.startedAt ? 'started ' : 'created ') : 'not started',
      run.completedAt && run.startedAt
        ? ' \u00b7 took ' + formatDuration(new Date(run.completedAt) - new Date(run.startedAt))
        : null,
      run.triggeredBy ? ' \u00b7 by ' + run.triggeredBy : null,
    ]);
    var figures = barFigures(run);
    row.querySelector('.run__counts').textContent =
      figures.passed + ' passed \u00b7 ' + figures.failed + ' failed \u00b7 ' + figures.skipped + ' skipped \u00b7 ' +
      figures.total + ' total';
    return updateBar(row.querySelector('[data-progress]'), figures);
  };

  // ---- analytics ----

  HomeView.prototype.loadAnalytics = function () {
    var self = this;
    var range = dayRange(LIMITS.trendDays);
    var handle = function (errorId, render) {
      return [
        function (data) {
          if (self.destroyed) return;
          showError($(errorId), null);
          render(data);
        },
        function (error) {
          if (self.destroyed) return;
          if (isAuthError(error)) return App.authFailed(error.message);
          showError($(errorId), error.message);
        },
      ];
    };
    // three requests: one failing leaves the others shown
    var trend = handle('trend-error', function (data) {
      drawTrend($('pass-rate-trend'), data.passRateTrend, range);
    });
    graphql(TREND_QUERY, range).then(trend[0], trend[1]);
    var flaky = handle('flakiest-error', function (data) {
      renderFlakiest($('flakiest'), data.flakiestTestCases);
    });
    graphql(FLAKIEST_QUERY, { days: LIMITS.trendDays, limit: LIMITS.analytics }).then(flaky[0], flaky[1]);
    var failing = handle('most-failing-error', function (data) {
      renderMostFailing($('most-failing'), data.mostFailingTestCases);
    });
    graphql(MOST_FAILING_QUERY, { days: LIMITS.trendDays, limit: LIMITS.analytics }).then(failing[0], failing[1]);
  };

  function caseLabel(testCase) {
    return h('span', { class: 'case__name', title: testCase.identityKey || testCase.name, text: testCase.name });
  }

  function renderFlakiest(list, rows) {
    clear(list);
    if (!rows.length) {
      list.appendChild(h('li', { class: 'empty', text: 'No flaky cases: nothing both passed and failed lately.' }));
      return;
    }
    rows.slice(0, LIMITS.analytics).forEach(function (row) {
      var f = row.flakiness;
      var score = Math.round(f.flakyScore * 100);
      var details = [plural(f.flips, 'flip'), plural(f.failures, 'failure')];
      if (f.passedOnRetry) details.push(f.passedOnRetry + ' passed on retry');
      details.push('in ' + plural(f.sampleSize, 'result'));
      var quarantine = row.testCase.quarantine;
      if (quarantine) {
        details.push(
          'quarantined' + (quarantine.owner ? ' (' + quarantine.owner + ')' : '') + ': ' + bounded(quarantine.reason)
        );
      }
      list.appendChild(
        h('li', { class: 'case', 'data-test-case-id': row.testCase.id, 'data-score': f.flakyScore, 'data-class': f.classification }, [
          h('span', { class: 'case__head' }, [
            caseLabel(row.testCase),
            f.classification && f.classification !== 'HEALTHY'
              ? h('span', { class: 'tag', 'data-class': f.classification, text: f.classification.toLowerCase() })
              : null,
            quarantine ? h('span', { class: 'tag', 'data-class': 'QUARANTINED', text: 'quarantined' }) : null,
          ]),
          h('span', { class: 'case__value', title: 'flaky score, 0 (steady) to 100 (flips every time)', text: String(score) }),
          h('span', { class: 'meter' }, [meterFill(score, 'flaky')]),
          h('span', { class: 'case__details muted', text: details.join(', ') }),
        ])
      );
    });
  }

  function renderMostFailing(list, rows) {
    clear(list);
    if (!rows.length) {
      list.appendChild(h('li', { class: 'empty', text: 'No failures in the last 30 days.' }));
      return;
    }
    rows.slice(0, LIMITS.analytics).forEach(function (row) {
      var share = row.executions > 0 ? Math.round((100 * row.failures) / row.executions) : 0;
      list.appendChild(
        h('li', { class: 'case', 'data-test-case-id': row.testCase.id, 'data-failures': row.failures }, [
          caseLabel(row.testCase),
          h('span', { class: 'case__value', title: 'failed executions', text: String(row.failures) }),
          h('span', { class: 'meter' }, [meterFill(share, 'failed')]),
          h('span', { class: 'case__details muted' }, [
            row.failures + ' of ' + plural(row.executions, 'execution') + ' failed',
            row.lastFailureAt ? ', last ' : null,
            row.lastFailureAt ? timeElement(row.lastFailureAt) : null,
          ]),
        ])
      );
    });
  }

  function meterFill(percent, kind) {
    var fill = h('span', { class: 'meter__fill', 'data-kind': kind });
    fill.style.width = Math.max(0, Math.min(100, percent)) + '%';
    return fill;
  }

  /**
   * The pass-rate chart: one point per day with a pass rate, joined while days follow each
   * other (a day without results breaks the line), over bars of the day's result volume.
   */
  function drawTrend(svg, days, range) {
    clear(svg);
    var W = 600;
    var H = 220;
    var pad = { left: 40, right: 12, top: 12, bottom: 28 };
    var plotW = W - pad.left - pad.right;
    var plotH = H - pad.top - pad.bottom;

    // every day of the range, with or without a row
    var byDay = {};
    days.forEach(function (d) {
      byDay[d.day] = d;
    });
    var all = [];
    var start = new Date(range.from + 'T00:00:00Z').getTime();
    for (var i = 0; i < LIMITS.trendDays; i++) {
      var day = new Date(start + i * 86400000).toISOString().slice(0, 10);
      all.push(byDay[day] || { day: day, passRate: null, passed: 0, failed: 0, skipped: 0 });
    }
    var step = plotW / (all.length - 1);
    function x(i) {
      return pad.left + i * step;
    }
    function y(rate) {
      return pad.top + plotH - (rate / 100) * plotH;
    }

    // grid and axis labels
    [0, 25, 50, 75, 100].forEach(function (rate) {
      svg.appendChild(s('line', { class: 'trend__grid', x1: pad.left, x2: W - pad.right, y1: y(rate), y2: y(rate) }));
      svg.appendChild(s('text', { class: 'trend__label', x: pad.left - 6, y: y(rate) + 4, 'text-anchor': 'end', text: rate + '%' }));
    });
    [0, Math.floor((all.length - 1) / 2), all.length - 1].forEach(function (i) {
      var anchor = i === 0 ? 'start' : i === all.length - 1 ? 'end' : 'middle';
      svg.appendChild(s('text', { class: 'trend__label', x: x(i), y: H - 8, 'text-anchor': anchor, text: all[i].day.slice(5) }));
    });

    // volume bars (results per day, scaled to the busiest day, a quarter of the height)
    var most = all.reduce(function (m, d) {
      return Math.max(m, d.passed + d.failed + d.skipped);
    }, 0);
    if (most > 0) {
      all.forEach(function (d, i) {
        var volume = d.passed + d.failed + d.skipped;
        if (!volume) return;
        var barH = (volume / most) * (plotH / 4);
        svg.appendChild(
          s('rect', { class: 'trend__volume', x: x(i) - Math.min(6, step / 3), y: pad.top + plotH - barH, width: Math.min(12, (2 * step) / 3), height: barH })
        );
      });
    }

    // the line, broken where a day has no rate
    var path = '';
    var open = false;
    all.forEach(function (d, i) {
      if (d.passRate === null || d.passRate === undefined) {
        open = false;
        return;
      }
      path += (open ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(d.passRate).toFixed(1) + ' ';
      open = true;
    });
    if (path) svg.appendChild(s('path', { class: 'trend__line', d: path.trim() }));

    all.forEach(function (d, i) {
      if (d.passRate === null || d.passRate === undefined) return;
      svg.appendChild(
        s('circle', { class: 'trend__point', cx: x(i), cy: y(d.passRate), r: 3.5, 'data-day': d.day, 'data-pass-rate': d.passRate }, [
          s('title', {
            text: d.day + ': ' + formatPercent(d.passRate) + ' (' + d.passed + ' passed, ' + d.failed + ' failed, ' + d.skipped + ' skipped)',
          }),
        ])
      );
    });

    if (!path) {
      svg.appendChild(s('text', { class: 'trend__empty', x: W / 2, y: H / 2, 'text-anchor': 'middle', text: 'No passed or failed results in the last 30 days' }));
    }
    svg.setAttribute('data-days', String(days.length));
  }

  // ======================================================================================
  // A run's page
  // ======================================================================================

  function RunView(runId) {
    this.runId = runId;
    this.run = null;
    this.executions = new Map(); // id -> execution
    this.rows = new Map(); // id -> <tr>
    this.pageInfo = null;
    this.executionCount = null;
    this.stops = [];
    this.destroyed = false;
    this.readStartedAt = 0;
    this.live = null; // the last testRunProgress message
    this.liveAt = 0;
    this.firstProgress = true;
    this.failures = null; // the last failures read
    var self = this;
    this.resyncSoon = debounce(function () {
      self.load();
    }, 1000);
    this.failuresSoon = debounce(function () {
      self.loadFailures();
    }, 1500);
    this.statsSoon = debounce(function () {
      self.loadStats();
    }, 3000);
    this.comparison = undefined; // undefined: not read yet; null: no earlier run to compare with
    this.comparisonSoon = debounce(function () {
      self.loadComparison();
    }, 3000);
  }

  RunView.prototype.mount = function () {
    var self = this;
    $('view-run').hidden = false;
    showError($('run-error'), null);
    clear($('run-page'));
    $('run-page').appendChild(h('p', { class: 'muted', text: 'Loading the run\u2026' }));
    this.stops.push(
      Live.subscribe(RUN_PROGRESS_SUBSCRIPTION, { runId: this.runId }, {
        data: function (data) {
          self.onProgress(data.testRunProgress);
        },
        error: function (message) {
          showError($('run-error'), 'Live updates: ' + message);
        },
        restarted: function () {
          self.resyncSoon();
        },
      })
    );
    this.load();
    this.loadFailures();
    this.loadComparison();
  };

  RunView.prototype.unmount = function () {
    this.destroyed = true;
    this.stops.forEach(function (stop) {
      stop();
    });
    this.resyncSoon.cancel();
    this.failuresSoon.cancel();
    this.statsSoon.cancel();
    this.comparisonSoon.cancel();
    $('view-run').hidden = true;
    clear($('run-page'));
  };

  RunView.prototype.resync = function () {
    this.resyncSoon();
    this.failuresSoon();
    this.comparisonSoon();
  };

  /** Reads the run with as many executions as are shown (at least a page). */
  RunView.prototype.load = function () {
    var self = this;
    var startedAt = performance.now();
    this.readStartedAt = startedAt;
    var wanted = Math.max(LIMITS.executionsPage, Math.min(this.executions.size, LIMITS.executions));
    var collected = [];
    var run = null;
    function page(after) {
      return graphql(RUN_QUERY, { id: self.runId, first: LIMITS.executionsPage, after: after }).then(function (data) {
        if (!data.testRun) throw ApiError('There is no run ' + self.runId + ' (or it is not visible to this token).', 'NOT_FOUND');
        run = data.testRun;
        collected = collected.concat(run.executions.nodes);
        var info = run.executions.pageInfo;
        if (info.hasNextPage && collected.length < wanted) return page(info.endCursor);
        return null;
      });
    }
    page(null).then(
      function () {
        if (self.destroyed || self.readStartedAt !== startedAt) return;
        showError($('run-error'), null);
        self.applyRead(run, collected, startedAt);
      },
      function (error) {
        if (self.destroyed) return;
        if (isAuthError(error)) return App.authFailed(error.message);
        clear($('run-page'));
        showError($('run-error'), error.message);
      }
    );
  };

  /** Loads the next page of executions (a button under the table). */
  RunView.prototype.loadMore = function () {
    var self = this;
    if (!this.pageInfo || !this.pageInfo.hasNextPage || this.executions.size >= LIMITS.executions) return;
    graphql(RUN_QUERY, { id: this.runId, first: LIMITS.executionsPage, after: this.pageInfo.endCursor }).then(
      function (data) {
        if (self.destroyed || !data.testRun) return;
        self.pageInfo = data.testRun.executions.pageInfo;
        data.testRun.executions.nodes.forEach(function (e) {
          if (!self.executions.has(e.id) && self.executions.size < LIMITS.executions) self.executions.set(e.id, e);
        });
        self.renderExecutions();
      },
      function (error) {
        if (!self.destroyed) showError($('run-error'), error.message);
      }
    );
  };

  RunView.prototype.applyRead = function (run, executions, readAt) {
    var self = this;
    // counters: the live message wins when it is newer than the read
    if (!(this.live && this.liveAt > readAt)) {
      this.run = run;
    } else {
      this.run = Object.assign({}, run, pickCounters(this.live));
    }
    this.run.stats = run.stats;
    this.pageInfo = run.executions.pageInfo;
    this.executionCount = run.executions.totalCount;
    var next = new Map();
    executions.slice(0, LIMITS.executions).forEach(function (e) {
      var known = self.executions.get(e.id);
      next.set(e.id, known && known.liveAt > readAt ? known : e);
    });
    // executions that appeared live during the read (kept when there is room)
    this.executions.forEach(function (e, id) {
      if (!next.has(id) && e.liveAt > readAt && next.size < LIMITS.executions) next.set(id, e);
    });
    this.executions = next;
    this.renderPage();
  };

  function pickCounters(p) {
    return {
      name: p.name,
      status: p.status,
      startedAt: p.startedAt,
      completedAt: p.completedAt,
      totalTests: p.totalTests,
      passedTests: p.passedTests,
      failedTests: p.failedTests,
      skippedTests: p.skippedTests,
    };
  }

  /**
   * A `testRunProgress` message: the run's counters, and the executions changed since the
   * previous message (at most 50). A `snapshot` after the first message means the server
   * lost track of changes (a gap): the page reads everything again. So does a full list of
   * 50 changes, which may have left some out.
   */
  RunView.prototype.onProgress = function (p) {
    if (!p) return;
    var self = this;
    this.live = p;
    this.liveAt = performance.now();
    if (p.snapshot && !this.firstProgress) this.resync();
    this.firstProgress = false;
    if (p.changedExecutions.length >= 50) this.resync();
    if (!this.run) {
      // the first read is still under way: its pages may have been read before these changes,
      // so the page reads once more after it (resyncSoon waits for quiet)
      if (p.changedExecutions.length) this.resync();
      return;
    }
    Object.assign(this.run, pickCounters(p));
    var failed = false;
    var added = false;
    p.changedExecutions.forEach(function (change) {
      var e = self.executions.get(change.id);
      if (!e) {
        // a new execution: listed when the table holds the whole run and has room
        if ((self.pageInfo && self.pageInfo.hasNextPage) || self.executions.size >= LIMITS.executions) return;
        e = { id: change.id, testCaseId: change.testCaseId, testCase: { name: change.testCaseName } };
        self.executions.set(e.id, e);
        self.executionCount = (self.executionCount || 0) + 1;
        added = true;
      }
      e.status = change.status;
      e.retryAttempt = change.retryAttempt;
      e.startedAt = change.startedAt;
      e.completedAt = change.completedAt;
      e.durationMs = change.durationMs;
      e.errorMessage = change.errorMessage;
      e.liveAt = self.liveAt;
      if (change.status === 'FAILED') failed = true;
      if (!added) self.updateExecutionRow(e);
    });
    if (added) this.renderExecutions();
    if (failed) this.failuresSoon();
    if (p.changedExecutions.length || FINISHED_RUN[p.status]) this.comparisonSoon();
    // the aggregates (pass rate, durations, retries) are not in the message: read anew
    if (p.changedExecutions.length || FINISHED_RUN[p.status]) this.statsSoon();
    if (this.renderHeader()) recordPaint(this.runId, barFigures(this.run).percent);
  };

  // ---- rendering ----

  RunView.prototype.renderPage = function () {
    var self = this;
    var page = $('run-page');
    clear(page);
    var bar = createBar();
    page.appendChild(
      h('div', { class: 'run-page', 'data-run-page': this.runId }, [
        h('header', { class: 'run-head' }, [
          h('div', { class: 'run-head__title' }, [h('h1', { id: 'run-name' }), h('span', { id: 'run-status' })]),
          h('p', { class: 'run-head__meta muted', id: 'run-meta' }),
        ]),
        h('section', { class: 'panel' }, [
          h('div', { class: 'run-progress' }, [bar, h('span', { class: 'run-progress__percent', id: 'run-percent' })]),
          h('dl', { class: 'figures', id: 'run-figures' }),
        ]),
        h('section', { class: 'panel', 'aria-labelledby': 'comparison-title' }, [
          h('div', { class: 'panel__head' }, [
            h('h2', { class: 'panel__title', id: 'comparison-title', text: 'Since the previous run' }),
            h('span', { class: 'muted', id: 'comparison-base' }),
          ]),
          h('div', { class: 'comparison', id: 'run-comparison' }, [h('p', { class: 'muted', text: 'Loading\u2026' })]),
        ]),
        h('section', { class: 'panel', 'aria-labelledby': 'failures-title' }, [
          h('div', { class: 'panel__head' }, [
            h('h2', { class: 'panel__title', id: 'failures-title', text: 'Failures' }),
            h('span', { class: 'muted', id: 'failures-count' }),
          ]),
          h('ol', { class: 'failures', id: 'run-failures' }, [h('li', { class: 'muted', text: 'Loading\u2026' })]),
        ]),
        h('section', { class: 'panel', 'aria-labelledby': 'executions-title' }, [
          h('div', { class: 'panel__head' }, [
            h('h2', { class: 'panel__title', id: 'executions-title', text: 'Executions' }),
            h('span', { class: 'muted', id: 'executions-count' }),
          ]),
          h('div', { class: 'table-wrap' }, [
            h('table', { class: 'executions' }, [
              h('thead', {}, [
                h('tr', {}, [
                  h('th', { text: 'Status' }),
                  h('th', { text: 'Case' }),
                  h('th', { text: 'Attempt' }),
                  h('th', { text: 'Duration' }),
                  h('th', { text: 'Started' }),
                ]),
              ]),
              h('tbody', { id: 'run-executions' }),
            ]),
          ]),
          h('button', { type: 'button', class: 'more', id: 'executions-more', hidden: true, text: 'Show more executions' }),
        ]),
      ])
    );
    this.bar = bar;
    $('executions-more').addEventListener('click', function () {
      self.loadMore();
    });
    this.rows = new Map();
    this.renderHeader();
    this.renderExecutions();
    if (this.failures) this.renderFailures(this.failures);
    if (this.comparison !== undefined) this.renderComparison(this.comparison);
  };

  /** The run's name, status, times and counters; answers whether its bar changed. */
  RunView.prototype.renderHeader = function () {
    var run = this.run;
    if (!run || !$('run-name')) return false;
    document.title = run.name + ' \u2013 JBTestSuite';
    $('run-name').textContent = run.name;
    var status = $('run-status');
    clear(status);
    status.appendChild(badge(run.status));
    var meta = $('run-meta');
    clear(meta);
    var parts = [];
    if (run.project) parts.push('project ' + run.project.name);
    if (run.testSuite) parts.push('suite ' + run.testSuite.name);
    if (run.branch) parts.push('branch ' + run.branch);
    if (run.commitSha) parts.push('commit ' + run.commitSha.slice(0, 12));
    if (run.environment) parts.push('on ' + run.environment);
    if (run.runKey) parts.push('key ' + run.runKey);
    if (run.triggeredBy) parts.push('by ' + run.triggeredBy);
    appendAll(meta, [parts.join(' \u00b7 ')]);
    // the database only keeps http(s) URLs here; checked again before it becomes a link
    if (run.buildUrl && /^https?:\/\//i.test(run.buildUrl)) {
      appendAll(meta, [
        ' \u00b7 ',
        h('a', { href: run.buildUrl, id: 'run-build', rel: 'noopener noreferrer', target: '_blank', text: 'CI build' }),
      ]);
    }
    if (run.infrastructureFailure) {
      appendAll(meta, [
        ' \u00b7 ',
        h('span', {
          class: 'tag',
          'data-class': 'INFRASTRUCTURE',
          title: 'most of its tests failed: an outage, left out of flaky classification',
          text: 'infrastructure failure',
        }),
      ]);
    }
    if (run.startedAt) appendAll(meta, [parts.length ? ' \u00b7 ' : '', timeElement(run.startedAt, 'started ')]);
    if (run.completedAt && run.startedAt) {
      appendAll(meta, [' \u00b7 took ' + formatDuration(new Date(run.completedAt) - new Date(run.startedAt))]);
    }
    var figures = barFigures(run);
    $('run-percent').textContent = figures.percent + '%';
    var live = this.live;
    var list = [
      ['Passed', figures.passed, 'passed'],
      ['Failed', figures.failed, 'failed'],
      ['Quarantined', run.quarantinedFailedTests ? run.quarantinedFailedTests + ' of the failed' : null, 'quarantined'],
      ['Skipped', figures.skipped, 'skipped'],
      ['Running', live ? live.runningTests : null, 'running'],
      ['Pending', live ? live.pendingTests : null, 'pending'],
      ['Cases', figures.total, null],
      ['Pass rate', run.stats ? formatPercent(run.stats.passRate) : null, null],
      ['Avg duration', run.stats && run.stats.avgDuration !== null ? formatDuration(run.stats.avgDuration * 1000) : null, null],
      ['Retries', run.stats ? run.stats.retries : null, null],
    ];
    var dl = $('run-figures');
    clear(dl);
    list.forEach(function (item) {
      if (item[1] === null || item[1] === undefined || item[1] === '') return;
      dl.appendChild(
        h('div', { class: 'figure', 'data-kind': item[2] }, [h('dt', { text: item[0] }), h('dd', { text: String(item[1]) })])
      );
    });
    return updateBar(this.bar, figures);
  };

  RunView.prototype.renderExecutions = function () {
    var self = this;
    var body = $('run-executions');
    if (!body) return;
    clear(body);
    this.rows = new Map();
    this.executions.forEach(function (e) {
      var row = h('tr', { 'data-execution-id': e.id }, [
        h('td', { class: 'executions__status' }),
        h('td', { class: 'executions__case' }),
        h('td', { class: 'executions__attempt' }),
        h('td', { class: 'executions__duration' }),
        h('td', { class: 'executions__started' }),
      ]);
      self.rows.set(e.id, row);
      self.fillExecutionRow(row, e);
      body.appendChild(row);
    });
    if (!this.executions.size) {
      body.appendChild(h('tr', {}, [h('td', { colspan: 5, class: 'empty', text: 'No executions yet.' })]));
    }
    var total = Math.max(this.executionCount || 0, this.executions.size);
    $('executions-count').textContent =
      total > this.executions.size ? this.executions.size + ' of ' + total : total + (total === 1 ? ' execution' : ' executions');
    $('executions-more').hidden = !(this.pageInfo && this.pageInfo.hasNextPage && this.executions.size < LIMITS.executions);
  };

  RunView.prototype.updateExecutionRow = function (e) {
    var row = this.rows.get(e.id);
    if (row) this.fillExecutionRow(row, e);
  };

  RunView.prototype.fillExecutionRow = function (row, e) {
    row.setAttribute('data-status', e.status);
    var cells = row.children;
    if (cells[0].getAttribute('data-value') !== e.status) {
      cells[0].setAttribute('data-value', e.status);
      clear(cells[0]);
      cells[0].appendChild(badge(e.status));
    }
    cells[1].textContent = (e.testCase && e.testCase.name) || e.testCaseId;
    cells[1].title = e.errorMessage ? bounded(e.errorMessage) : '';
    cells[2].textContent = e.retryAttempt ? 'retry ' + e.retryAttempt : 'first';
    cells[3].textContent = formatDuration(e.durationMs);
    clear(cells[4]);
    if (e.startedAt) cells[4].appendChild(timeElement(e.startedAt));
  };

  /** Reads the run's aggregates again (after executions changed). */
  RunView.prototype.loadStats = function () {
    var self = this;
    graphql(RUN_STATS_QUERY, { id: this.runId }).then(
      function (data) {
        if (self.destroyed || !self.run || !data.testRun) return;
        self.run.stats = data.testRun.stats;
        self.renderHeader();
      },
      function () {
        /* kept as they were; the next change tries again */
      }
    );
  };

  // ---- compared with the previous run ----

  RunView.prototype.loadComparison = function () {
    var self = this;
    graphql(RUN_COMPARISON_QUERY, { id: this.runId, first: LIMITS.comparison }).then(
      function (data) {
        if (self.destroyed || !data.testRun) return;
        self.comparison = data.testRun.comparison;
        self.renderComparison(self.comparison);
      },
      function (error) {
        if (self.destroyed) return;
        if (isAuthError(error)) return App.authFailed(error.message);
        var box = $('run-comparison');
        if (box) {
          clear(box);
          box.appendChild(h('p', { class: 'panel__error', text: 'The comparison cannot be read: ' + error.message }));
        }
      }
    );
  };

  RunView.prototype.renderComparison = function (comparison) {
    var box = $('run-comparison');
    if (!box) return; // drawn with the page
    clear(box);
    var base = $('comparison-base');
    clear(base);
    if (!comparison) {
      box.appendChild(
        h('p', {
          class: 'empty',
          text: 'No earlier finished run of this suite, branch and environment to compare with.',
        })
      );
      return;
    }
    appendAll(base, [
      'against ',
      h('a', { href: '#/runs/' + encodeURIComponent(comparison.base.id), text: comparison.base.name }),
      comparison.base.completedAt ? ', ' : null,
      comparison.base.completedAt ? timeElement(comparison.base.completedAt) : null,
    ]);
    var c = comparison.counts;
    var chips = [
      ['new-failures', c.newFailures, 'new failure', 'new failures'],
      ['fixed', c.fixed, 'fixed', 'fixed'],
      ['still-failing', c.stillFailing, 'still failing', 'still failing'],
      ['new-tests', c.newTests, 'new test', 'new tests'],
      ['missing-tests', c.missingTests, 'missing test', 'missing tests'],
      ['slower', c.durationRegressions, 'slower', 'slower'],
      ['unchanged', c.unchanged, 'unchanged', 'unchanged'],
    ];
    box.appendChild(
      h(
        'ul',
        { class: 'chips' },
        chips.map(function (chip) {
          return h('li', { class: 'chip', 'data-kind': chip[0], 'data-count': chip[1] }, [
            h('strong', { text: String(chip[1]) }),
            ' ' + (chip[1] === 1 ? chip[2] : chip[3]),
          ]);
        })
      )
    );
    var lists = [
      ['New failures', comparison.newFailures, c.newFailures, 'new-failures'],
      ['Fixed', comparison.fixed, c.fixed, 'fixed'],
      ['Still failing', comparison.stillFailing, c.stillFailing, 'still-failing'],
    ];
    lists.forEach(function (list) {
      if (!list[1] || !list[1].length) return;
      var more = list[2] > list[1].length ? ' (first ' + list[1].length + ' of ' + list[2] + ')' : '';
      box.appendChild(
        h('div', { class: 'comparison__list', 'data-kind': list[3] }, [
          h('h3', { class: 'comparison__title', text: list[0] + more }),
          h(
            'ul',
            {},
            list[1].map(function (entry) {
              var testCase = entry.testCase || { name: entry.testCaseId };
              return h('li', { 'data-test-case-id': entry.testCaseId }, [
                caseLabel(testCase),
                entry.errorFingerprint ? h('span', { class: 'muted comparison__error', text: bounded(entry.errorFingerprint) }) : null,
              ]);
            })
          ),
        ])
      );
    });
  };

  // ---- failures ----

  RunView.prototype.loadFailures = function () {
    var self = this;
    graphql(RUN_FAILURES_QUERY, { runId: this.runId, first: LIMITS.failures }).then(
      function (data) {
        if (self.destroyed) return;
        self.failures = data.testExecutions;
        self.renderFailures(self.failures);
      },
      function (error) {
        if (self.destroyed) return;
        if (isAuthError(error)) return App.authFailed(error.message);
        var list = $('run-failures');
        if (list) {
          clear(list);
          list.appendChild(h('li', { class: 'panel__error', text: 'The failures cannot be read: ' + error.message }));
        }
      }
    );
  };

  RunView.prototype.renderFailures = function (page) {
    var list = $('run-failures');
    if (!list) return; // the page is not drawn yet: drawn with it
    clear(list);
    $('failures-count').textContent =
      page.totalCount > page.nodes.length
        ? 'newest ' + page.nodes.length + ' of ' + page.totalCount + ' failed executions'
        : plural(page.totalCount, 'failed execution');
    if (!page.nodes.length) {
      list.appendChild(h('li', { class: 'empty', text: 'No failed executions.' }));
      return;
    }
    page.nodes.forEach(function (e) {
      var failedSteps = (e.stepExecutions || [])
        .filter(function (se) {
          return se.status === 'FAILED';
        })
        .sort(function (a, b) {
          return ((a.testStep && a.testStep.orderIndex) || 0) - ((b.testStep && b.testStep.orderIndex) || 0);
        });
      list.appendChild(
        h('li', { class: 'failure', 'data-failure-execution-id': e.id }, [
          h('div', { class: 'failure__head' }, [
            h('span', { class: 'failure__case', title: (e.testCase && e.testCase.identityKey) || '', text: (e.testCase && e.testCase.name) || '' }),
            h('span', { class: 'muted', text: e.retryAttempt ? 'retry ' + e.retryAttempt : 'first attempt' }),
          ]),
          e.errorMessage ? h('pre', { class: 'failure__message', text: bounded(e.errorMessage) }) : null,
          failedSteps.length
            ? h(
                'ol',
                { class: 'failure__steps' },
                failedSteps.map(function (se) {
                  var step = se.testStep || {};
                  return h('li', { class: 'step', 'data-step-execution-id': se.id }, [
                    h('span', { class: 'step__name', text: 'Step ' + (step.orderIndex || '?') + ': ' + (step.name || '') }),
                    se.errorMessage ? h('pre', { class: 'failure__message', text: bounded(se.errorMessage) }) : null,
                    se.actualResult ? h('p', { class: 'step__actual muted', text: 'Actual: ' + bounded(se.actualResult) }) : null,
                  ]);
                })
              )
            : null,
        ])
      );
    });
  };

  // ======================================================================================
  // The application: token, notices, routing
  // ======================================================================================

  var App = {
    view: null,
    authProblem: null,

    /** Starts (again) with the current token. */
    start: function () {
      App.leaveView();
      Live.stop();
      $('viewer').textContent = '';
      if (!session.getToken()) {
        App.showNotice('An API token is needed', 'This dashboard reads the JBTestSuite API, which answers only requests that carry a token.');
        return;
      }
      App.authProblem = null;
      App.hideNotice();
      Live.start();
      App.route();
      graphql(VIEWER_QUERY).then(
        function (data) {
          var v = data.viewer;
          $('viewer').textContent = v.userId + (v.isAdmin ? ' (admin)' : '');
        },
        function (error) {
          if (isAuthError(error)) App.authFailed(error.message);
        }
      );
    },

    /** The server refused the token: say why, stop everything until it changes. */
    authFailed: function (message) {
      if (App.authProblem) return;
      App.authProblem = message;
      App.leaveView();
      Live.stop();
      $('viewer').textContent = '';
      App.showNotice('The server refused the token', message);
    },

    showNotice: function (title, text) {
      $('notice-title').textContent = title;
      $('notice-text').textContent = text;
      $('notice').hidden = false;
      $('view-home').hidden = true;
      $('view-run').hidden = true;
    },

    hideNotice: function () {
      $('notice').hidden = true;
    },

    leaveView: function () {
      if (App.view) App.view.unmount();
      App.view = null;
    },

    /** Shows the page the hash names: #/runs/<uuid>, or the home page. */
    route: function () {
      if (!session.getToken() || App.authProblem) return;
      var match = /^#\/runs\/([^/?&]+)/.exec(window.location.hash);
      var runId = null;
      try {
        runId = match ? decodeURIComponent(match[1]) : null;
      } catch (e) {
        runId = null; // a malformed link: the home page
      }
      if (runId && !UUID_RE.test(runId)) runId = null;
      if (App.view && App.view.runId === runId && runId) return;
      if (App.view instanceof HomeView && !runId) return;
      App.leaveView();
      document.title = 'JBTestSuite';
      App.view = runId ? new RunView(runId) : new HomeView();
      App.view.mount();
      window.scrollTo(0, 0);
    },

    /** After the socket reconnected: the current page re-reads its data. */
    resync: function () {
      if (App.view) App.view.resync();
    },
  };

  // ---- wiring ----

  var input = $('jbts-token');
  session.bindTokenInput(input);
  $('jbts-token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    session.setToken(input.value);
  });
  $('jbts-token-clear').addEventListener('click', function () {
    input.value = '';
    session.setToken('');
  });
  session.onTokenChange(App.start);
  window.addEventListener('hashchange', App.route);
  setInterval(refreshAgo, 30000);

  App.start();
})();
