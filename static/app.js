// Progressive enhancement for the result page: copy buttons, the expiry countdown, and
// "call the API again" without leaving the page; on the device page, polling by itself at the
// interval the server set. Without this script every part still works:
// snippets are plain selectable text, the expiry is an absolute time, and the buttons are forms.
// Served from /static (no inline script), so a strict Content-Security-Policy holds.
(function () {
  'use strict';

  function wireCopyButtons(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll('button.copy[data-copy]').forEach(function (button) {
      button.hidden = false;
      button.addEventListener('click', function () {
        var source = document.getElementById(button.getAttribute('data-copy'));
        if (!source) return;
        navigator.clipboard.writeText(source.textContent).then(function () {
          button.textContent = 'Copied';
          setTimeout(function () { button.textContent = 'Copy'; }, 1500);
        }, function () {
          button.textContent = 'Select the text to copy';
        });
      });
    });
  }

  function startCountdown() {
    var element = document.getElementById('countdown');
    if (!element || !element.getAttribute('data-expires')) return;
    var expires = Date.parse(element.getAttribute('data-expires'));
    function tick() {
      var left = Math.round((expires - Date.now()) / 1000);
      if (left <= 0) {
        element.textContent = ' · expired';
        element.classList.add('expired');
        return;
      }
      var hours = Math.floor(left / 3600);
      var minutes = Math.floor((left % 3600) / 60);
      var seconds = left % 60;
      element.textContent = ' · ' + (hours ? hours + ' h ' : '') + (hours || minutes ? minutes + ' min ' : '') +
        seconds + ' s left';
      setTimeout(tick, 1000);
    }
    tick();
  }

  // Each added call gets its own ids, so its copy buttons find their own snippets.
  var added = 0;
  function renumber(root) {
    added += 1;
    root.querySelectorAll('[id]').forEach(function (element) { element.id = element.id + '-' + added; });
    root.querySelectorAll('[data-copy]').forEach(function (element) {
      element.setAttribute('data-copy', element.getAttribute('data-copy') + '-' + added);
    });
  }

  function wireCallAgain() {
    var target = document.getElementById('more-calls');
    if (!target || !window.fetch) return;
    document.querySelectorAll('form.call-again').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        var button = form.querySelector('button');
        button.disabled = true;
        fetch(form.getAttribute('action'), {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'X-Fragment': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(new FormData(form)).toString()
        }).then(function (response) {
          return response.text().then(function (text) { return { ok: response.ok, text: text }; });
        }).then(function (answer) {
          var parsed = new DOMParser().parseFromString(answer.text, 'text/html');
          var step = parsed.querySelector('.api-step') || parsed.querySelector('main');
          if (!answer.ok || !step) {
            step = document.createElement('p');
            step.className = 'alert alert-error';
            step.textContent = 'The call could not be made; reload the page and try again.';
          }
          var node = document.importNode(step, true);
          renumber(node);
          target.appendChild(node);
          wireCopyButtons(node);
          node.scrollIntoView({ behavior: 'smooth', block: 'start' });
        }).catch(function () {
          form.submit();
        }).then(function () {
          button.disabled = false;
        });
      });
    });
  }

  // The device flow's page: poll every `interval` seconds (raised by the server's slow_down), add
  // each pending poll to the page, and show the answer that ends the flow (the result page, or an
  // error page) when it comes. The form's button does the same by hand.
  function wireDevicePolling() {
    var form = document.getElementById('device-poll');
    if (!form || !window.fetch) return;
    var status = document.getElementById('poll-status');
    var list = document.getElementById('polls');
    var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
    var interval = parseInt(form.getAttribute('data-interval'), 10) || 5;
    var timer = null;
    function schedule() {
      status.textContent = 'Next poll in ' + interval + ' s.';
      timer = setTimeout(poll, interval * 1000);
    }
    function poll() {
      clearTimeout(timer);
      status.textContent = 'Polling…';
      fetch(form.getAttribute('action'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-Fragment': '1', 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (response) {
        return response.text().then(function (text) { return { response: response, text: text }; });
      }).then(function (answer) {
        if (answer.response.headers.get('X-Device') !== 'pending') {
          document.open();
          document.write(answer.text);
          document.close();
          return;
        }
        var step = new DOMParser().parseFromString(answer.text, 'text/html').querySelector('.device-poll');
        if (step) {
          var node = document.importNode(step, true);
          renumber(node);
          list.appendChild(node);
          wireCopyButtons(node);
        }
        field('polls').value = String((parseInt(field('polls').value, 10) || 0) + 1);
        interval = parseInt(answer.response.headers.get('X-Device-Interval'), 10) || interval;
        field('interval').value = String(interval);
        ['poll-interval', 'poll-interval-text'].forEach(function (id) {
          var element = document.getElementById(id);
          if (element) element.textContent = String(interval);
        });
        schedule();
      }, function () {
        status.textContent = 'The poll could not be sent; use the button.';
      });
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      poll();
    });
    schedule();
  }

  wireCopyButtons(document);
  startCountdown();
  wireCallAgain();
  wireDevicePolling();
})();
