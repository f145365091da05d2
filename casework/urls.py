from django.urls import path

from casework import batch_views, board_views, drill_views, feedback_views, study_views, views

app_name = "casework"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("board/", views.board, name="board"),
    path("board/<int:pk>/move/", board_views.board_move, name="board_move"),
    path("mine/", views.my_cases, name="mine"),
    path("team/", views.team_view, name="team"),
    path("assign/", views.assign, name="assign"),
    path("incidents/", views.incident_list, name="incidents"),
    path("incidents/new/", views.incident_new, name="incident_new"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident"),
    path("incidents/<int:pk>/redrive/", batch_views.incident_redrive_view, name="incident_redrive"),
    path("incidents/<int:pk>/resolve/", views.incident_resolve_view, name="incident_resolve"),
    path("drills/", drill_views.drill_list, name="drills"),
    path("drills/new/", drill_views.drill_new, name="drill_new"),
    path("drills/<int:pk>/", drill_views.drill_detail, name="drill"),
    path("drills/<int:pk>/end/", drill_views.drill_end_view, name="drill_end"),
    path("drills/<int:pk>/purge/", drill_views.drill_purge_view, name="drill_purge"),
    path("playbooks/revisions/<int:pk>/", study_views.playbook_revision, name="playbook_revision"),
    path("playbooks/revisions/<int:pk>/accept/", study_views.playbook_revision_accept, name="playbook_revision_accept"),
    path("playbooks/revisions/<int:pk>/reject/", study_views.playbook_revision_reject, name="playbook_revision_reject"),
    path("playbooks/<str:cause>/", study_views.playbook, name="playbook"),
    path("feedback/", feedback_views.feedback_list, name="feedback"),
    path("feedback/account/<str:number>/", feedback_views.record_on_account, name="feedback_account"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/move/<str:move>/", views.case_move, name="move"),
    path("<int:pk>/take/", views.case_take, name="take"),
    path("<int:pk>/comment/", views.comment, name="comment"),
    path("<int:pk>/contact/", views.contact, name="contact"),
    path("<int:pk>/checklist/<int:item_id>/", views.tick, name="tick"),
    path("<int:pk>/handoff/", views.hand_off, name="handoff"),
    path("<int:pk>/incident/", views.link_incident, name="link_incident"),
    path("<int:pk>/feedback/", feedback_views.record_on_case, name="feedback_case"),
]
