from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account_list.html")
