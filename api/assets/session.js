/*
 * The API token and the endpoints, shared by the dashboard (/) and GraphiQL (/graphql).
 *
 * The token is kept in localStorage under "jbts.token", so both pages (and every tab) use the
 * same one. A link may carry it in its fragment, `/#token=...` or `/graphql#token=...` (the
 * `demo` command prints such a link): it is stored, then removed from the address bar so that
 * it does not stay in the history or get copied along with the URL.
 *
 * Exposes `window.jbtsSession`.
 */
(function () {
  'use strict';

  var STORAGE_KEY = 'jbts.token';
  var listeners = [];
  // the token when localStorage is unavailable (private mode with storage disabled)
  var memoryToken = '';

  function read() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) || '';
    } catch (e) {
      return memoryToken;
    }
  }

  function write(token) {
    memoryToken = token;
    try {
      if (token) {
        window.localStorage.setItem(STORAGE_KEY, token);
      } else {
        window.localStorage.removeItem(STORAGE_KEY);
      }
    } catch (e) {
      /* kept in memory only */
    }
  }

  var current = read();

  /** The token, '' when there is none. */
  function getToken() {
    return current;
  }

  /** Stores a token ('' forgets it) and tells the listeners when it changed. */
  function setToken(token) {
    var next = String(token || '').trim();
    // "Bearer xyz" pasted whole is taken as "xyz"
    next = next.replace(/^bearer\s+/i, '');
    if (next === current) return;
    current = next;
    write(next);
    notify();
  }

  function notify() {
    listeners.slice().forEach(function (listener) {
      try {
        listener(current);
      } catch (e) {
        if (window.console) console.error(e);
      }
    });
  }

  /** Calls `listener(token)` whenever the token changes, here or in another tab. */
  function onTokenChange(listener) {
    listeners.push(listener);
  }

  // another tab changed the token
  window.addEventListener('storage', function (event) {
    if (event.key !== STORAGE_KEY && event.key !== null) return;
    var next = read();
    if (next !== current) {
      current = next;
      notify();
    }
  });

  /**
   * Takes `token=...` out of the URL fragment, stores it, and rewrites the address without
   * it (other fragment parameters and a hash route such as `#/runs/<id>` are kept).
   */
  function takeTokenFromFragment() {
    var hash = window.location.hash.replace(/^#/, '');
    if (!hash) return;
    var parts = hash.split('&');
    var found = null;
    var rest = parts.filter(function (part) {
      if (part.indexOf('token=') === 0) {
        found = part.slice('token='.length);
        return false;
      }
      return true;
    });
    if (found === null) return;
    try {
      found = decodeURIComponent(found);
    } catch (e) {
      /* not percent-encoded: taken as it is */
    }
    var stored = getToken();
    // a link must not swap the token this browser keeps without the person saying so: work
    // done afterwards would go to the link's owner
    var take =
      !stored ||
      stored === found ||
      window.confirm(
        'This link carries an API token other than the one this browser keeps. ' +
          'Use the link\'s token from now on (for the dashboard and GraphiQL)?'
      );
    if (take) setToken(found);
    var url = window.location.pathname + window.location.search + (rest.length ? '#' + rest.join('&') : '');
    window.history.replaceState(null, '', url);
  }

  /** The headers that authenticate an HTTP request: none without a token. */
  function authHeaders() {
    return current ? { Authorization: 'Bearer ' + current } : {};
  }

  /** The connection_init payload of the WebSocket: empty without a token. */
  function connectionParams() {
    return current ? { Authorization: 'Bearer ' + current } : {};
  }

  /** ws://host/graphql/ws (wss: behind https). */
  function websocketUrl() {
    var scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + window.location.host + '/graphql/ws';
  }

  /**
   * Wires a token <input>: shows the stored token, stores what is typed (after a pause, on
   * Enter, or when the field loses focus) and follows changes made elsewhere.
   */
  function bindTokenInput(input) {
    var timer = null;
    input.value = current;
    function apply() {
      clearTimeout(timer);
      timer = null;
      setToken(input.value);
    }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(apply, 600);
    });
    input.addEventListener('change', apply);
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') apply();
    });
    onTokenChange(function (token) {
      // not while the user is typing a different value
      if (timer === null && input.value.trim().replace(/^bearer\s+/i, '') !== token) input.value = token;
    });
  }

  takeTokenFromFragment();
  window.addEventListener('hashchange', takeTokenFromFragment);

  window.jbtsSession = {
    GRAPHQL_PATH: '/graphql',
    getToken: getToken,
    setToken: setToken,
    onTokenChange: onTokenChange,
    authHeaders: authHeaders,
    connectionParams: connectionParams,
    websocketUrl: websocketUrl,
    bindTokenInput: bindTokenInput,
  };
})();
