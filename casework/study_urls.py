from django.urls import path

from casework import study_views

app_name = "studies"

urlpatterns = [
    path("", study_views.study_list, name="list"),
    path("new/", study_views.study_new, name="new"),
    path("<int:pk>/", study_views.study_detail, name="detail"),
    path("<int:pk>/edit/", study_views.study_edit, name="edit"),
    path("<int:pk>/propose/", study_views.study_propose, name="propose"),
]
