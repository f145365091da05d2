/* The case board's drag and drop.
 *
 * A card is dragged within its department's lane: to another column (the case's status move)
 * or, for a lead, onto a person (an assignment). The drop posts the card's own Move form with
 * where it went; the answer redraws the cells the card left and reached, so a refused move
 * (someone else moved the card, a WIP limit, a move the case cannot make) puts the card back
 * where the server holds it, with the message saying why. Without this script the Move menu
 * on each card is a plain form.
 */
(function () {
  "use strict";

  function post(card, values) {
    var form = card.querySelector("form.card-move");
    if (!form) {
      return;
    }
    window.htmx.ajax("POST", form.getAttribute("action"), { source: form, values: values, swap: "none" });
  }

  function dropped(event) {
    var card = event.item;
    if (event.to === event.from) {
      return;
    }
    if (event.to.dataset.assignee) {
      post(card, { assignee: event.to.dataset.assignee });
    } else if (event.to.dataset.status) {
      post(card, { to: event.to.dataset.status });
    }
  }

  function setUp(root) {
    if (!window.Sortable) {
      return;
    }
    root.querySelectorAll(".lane").forEach(function (lane) {
      var group = "lane-" + lane.dataset.lane;
      lane.querySelectorAll(".cards[data-status]").forEach(function (list) {
        if (list.dataset.sortable) {
          return;
        }
        list.dataset.sortable = "1";
        window.Sortable.create(list, {
          group: { name: group, pull: true, put: true },
          sort: false,
          draggable: "article.case-card.movable",
          filter: "a, input, label, summary, button, details",
          preventOnFilter: false,
          forceFallback: true,
          fallbackOnBody: true,
          onEnd: dropped,
        });
      });
      lane.querySelectorAll(".person[data-assignee]").forEach(function (person) {
        if (person.dataset.sortable) {
          return;
        }
        person.dataset.sortable = "1";
        window.Sortable.create(person, {
          group: { name: group, pull: false, put: true },
          sort: false,
          draggable: ".case-card",
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
    // The card being moved: once redrawn, its Move menu has the focus again (the keyboard's place).
    var moving = null;
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      var card = event.target.closest && event.target.closest("article.case-card");
      moving = card ? card.dataset.case : null;
    });
    // Cells and people redrawn by an answer are new elements: make them drop targets again.
    document.body.addEventListener("htmx:oobAfterSwap", function () {
      setUp(document);
      var menu = moving && document.querySelector("article[data-case='" + moving + "'] summary");
      if (menu) {
        moving = null;
        menu.focus();
      }
    });
    document.body.addEventListener("click", function (event) {
      var dismiss = event.target.closest("[data-dismiss]");
      if (dismiss) {
        var box = document.getElementById(dismiss.dataset.dismiss);
        if (box) {
          box.replaceChildren();
        }
      }
    });
    // The answer did not come (the portal is unreachable): show the board as the server holds it.
    document.body.addEventListener("htmx:sendError", function (event) {
      if (event.target.closest && event.target.closest("form.card-move")) {
        window.location.reload();
      }
    });
  });
})();
