"""The loopback Stripe fake's stand-in for Stripe.js (served at ``GET /v3/``)."""


#: A stand-in for Stripe.js (``GET /v3/``), with the calls Duly's pay-now page makes: ``Stripe(pk)``,
#: ``stripe.elements({clientSecret})``, ``elements.create("payment").mount(selector)``, and
#: ``stripe.confirmPayment`` / ``stripe.confirmSetup({elements, confirmParams: {return_url}})``. Like Stripe.js it
#: confirms the intent from the browser with the publishable key and the client secret, sends the card as
#: ``payment_method_data``, resolves ``{error}`` on a decline and otherwise goes to ``return_url`` with
#: ``payment_intent``/``setup_intent``, its client secret and ``redirect_status``. The payment element here is three
#: plain inputs (card number, expiry, CVC), not Stripe's iframe.
STRIPE_JS = r"""
(function () {
  var API = __API__;
  function encode(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }
  function Stripe(key) {
    if (!key || key.indexOf("pk_") !== 0) { throw new Error("Stripe(): a publishable key (pk_...) is required"); }
    function call(method, path, params) {
      var init = {method: method, headers: {"Authorization": "Bearer " + key}};
      if (method === "POST") {
        init.headers["Content-Type"] = "application/x-www-form-urlencoded";
        init.body = encode(params);
      } else {
        path += "?" + encode(params);
      }
      return fetch(API + path, init).then(function (r) {
        return r.json().then(function (body) { return {ok: r.ok, body: body}; });
      });
    }
    function card(elements) {
      var root = elements._root;
      if (!root) { throw new Error("mount the payment element first"); }
      var exp = root.querySelector("input[name=exp-date]").value.split("/");
      return {
        "payment_method_data[type]": "card",
        "payment_method_data[card][number]": root.querySelector("input[name=cardnumber]").value.replace(/\s/g, ""),
        "payment_method_data[card][exp_month]": String(parseInt(exp[0], 10) || 12),
        "payment_method_data[card][exp_year]": String(2000 + (parseInt(exp[1], 10) || 34)),
        "payment_method_data[card][cvc]": root.querySelector("input[name=cvc]").value
      };
    }
    function confirm(kind, args) {
      var elements = args.elements, secret = elements._clientSecret;
      var id = secret.split("_secret_")[0], back = (args.confirmParams || {}).return_url;
      var params = card(elements);
      params.client_secret = secret;
      if (back) { params.return_url = back; }
      return call("POST", "/v1/" + kind + "s/" + id + "/confirm", params).then(function (res) {
        if (!res.ok) { return {error: res.body.error}; }
        var intent = res.body;
        if (intent.status === "requires_action") {
          return {error: {type: "card_error", code: "authentication_required",
                          message: "This payment needs authentication, which this stand-in does not do."}};
        }
        if (back && args.redirect !== "if_required") {
          var sep = back.indexOf("?") < 0 ? "?" : "&";
          window.location.assign(back + sep + kind + "=" + intent.id + "&" + kind + "_client_secret=" + secret +
                                 "&redirect_status=" + (intent.status === "succeeded" ? "succeeded" : intent.status));
          return new Promise(function () {});
        }
        var out = {}; out[kind === "payment_intent" ? "paymentIntent" : "setupIntent"] = intent;
        return out;
      });
    }
    return {
      elements: function (options) {
        var elements = {_clientSecret: (options || {}).clientSecret, _root: null};
        elements.create = function (type) {
          if (type !== "payment") { throw new Error("this stand-in has the payment element only"); }
          return {mount: function (selector) {
            var root = typeof selector === "string" ? document.querySelector(selector) : selector;
            root.innerHTML = '<div class="stripe-fake-element">' +
              '<label>Card number <input name="cardnumber" inputmode="numeric" autocomplete="cc-number"></label>' +
              '<label>Expiry <input name="exp-date" value="12 / 34" autocomplete="cc-exp"></label>' +
              '<label>CVC <input name="cvc" value="123" autocomplete="cc-csc"></label></div>';
            elements._root = root;
          }};
        };
        return elements;
      },
      confirmPayment: function (args) { return confirm("payment_intent", args); },
      confirmSetup: function (args) { return confirm("setup_intent", args); },
      retrievePaymentIntent: function (secret) {
        return call("GET", "/v1/payment_intents/" + secret.split("_secret_")[0], {client_secret: secret})
          .then(function (res) { return res.ok ? {paymentIntent: res.body} : {error: res.body.error}; });
      }
    };
  }
  window.Stripe = Stripe;
})();
"""
