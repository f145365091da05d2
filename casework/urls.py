from django.urls import path

from casework import views

app_name = "casework"

urlpatterns = [
    path("board/", views.board, name="board"),
]
