(** The PXL kernel: formula syntax, S5 Kripke semantics, validity.

    A model is a type of worlds with an accessibility relation and a
    valuation of atoms; S5 validity is truth at every world of every model
    whose relation is an equivalence.  Universal models (every world sees
    every world) suffice: [universal_valid_s5_valid]. *)

From Coq Require Import String List RelationClasses.
Import ListNotations.

(** All PXL connectives; [FAnd]/[FOr] are n-ary like the prover's. *)
Inductive form : Type :=
| FAtom (name : string)
| FConst (value : bool)
| FNot (a : form)
| FAnd (args : list form)
| FOr (args : list form)
| FImp (a b : form)
| FIff (a b : form)
| FBox (a : form)
| FDia (a : form).

(** Induction with hypotheses for the arguments of the n-ary nodes. *)
Section FormInd.
  Variable P : form -> Prop.
  Hypothesis HAtom : forall s, P (FAtom s).
  Hypothesis HConst : forall b, P (FConst b).
  Hypothesis HNot : forall a, P a -> P (FNot a).
  Hypothesis HAnd : forall l, Forall P l -> P (FAnd l).
  Hypothesis HOr : forall l, Forall P l -> P (FOr l).
  Hypothesis HImp : forall a b, P a -> P b -> P (FImp a b).
  Hypothesis HIff : forall a b, P a -> P b -> P (FIff a b).
  Hypothesis HBox : forall a, P a -> P (FBox a).
  Hypothesis HDia : forall a, P a -> P (FDia a).

  Fixpoint form_ind' (f : form) : P f :=
    let fix all (l : list form) : Forall P l :=
      match l with
      | [] => Forall_nil P
      | a :: r => Forall_cons a (form_ind' a) (all r)
      end in
    match f with
    | FAtom s => HAtom s
    | FConst b => HConst b
    | FNot a => HNot a (form_ind' a)
    | FAnd l => HAnd l (all l)
    | FOr l => HOr l (all l)
    | FImp a b => HImp a b (form_ind' a) (form_ind' b)
    | FIff a b => HIff a b (form_ind' a) (form_ind' b)
    | FBox a => HBox a (form_ind' a)
    | FDia a => HDia a (form_ind' a)
    end.
End FormInd.

(** Truth of [f] at world [w] of the model ([R], [val]). *)
Fixpoint eval {W : Type} (R : W -> W -> Prop) (val : W -> string -> Prop)
    (w : W) (f : form) : Prop :=
  match f with
  | FAtom s => val w s
  | FConst b => if b then True else False
  | FNot a => ~ eval R val w a
  | FAnd l => (fix all (l : list form) : Prop :=
                 match l with [] => True | a :: r => eval R val w a /\ all r end) l
  | FOr l => (fix any (l : list form) : Prop :=
                match l with [] => False | a :: r => eval R val w a \/ any r end) l
  | FImp a b => eval R val w a -> eval R val w b
  | FIff a b => eval R val w a <-> eval R val w b
  | FBox a => forall u, R w u -> eval R val u a
  | FDia a => exists u, R w u /\ eval R val u a
  end.

(** S5 validity: true at every world of every model with an equivalence relation. *)
Definition s5_valid (f : form) : Prop :=
  forall (W : Type) (R : W -> W -> Prop) (val : W -> string -> Prop),
    Equivalence R -> forall w : W, eval R val w f.

(** Validity in universal models (the relation relates every pair of worlds). *)
Definition universal_valid (f : form) : Prop :=
  forall (W : Type) (val : W -> string -> Prop) (w : W), eval (fun _ _ => True) val w f.

Lemma eval_and {W} R val (w : W) l :
  eval R val w (FAnd l) <-> Forall (eval R val w) l.
Proof.
  simpl. induction l as [|a r IH]; split; intro H; auto.
  - destruct H as [Ha Hr]. constructor; [exact Ha | apply IH; exact Hr].
  - inversion H; subst. split; [assumption | apply IH; assumption].
Qed.

Lemma eval_or {W} R val (w : W) l :
  eval R val w (FOr l) <-> Exists (eval R val w) l.
Proof.
  simpl. induction l as [|a r IH]; split; intro H.
  - destruct H.
  - inversion H.
  - destruct H as [Ha | Hr]; [left; exact Ha | right; apply IH; exact Hr].
  - inversion H; subst; [left; assumption | right; apply IH; assumption].
Qed.

(** The equivalence class of a world, seen as a universal model, gives every
    formula the same truth values as the original model. *)
Section Restrict.
  Variables (W : Type) (R : W -> W -> Prop) (val : W -> string -> Prop).
  Hypothesis HR : Equivalence R.
  Variable w0 : W.

  Definition cls : Type := { u : W | R w0 u }.
  Definition cls_val (u : cls) (s : string) : Prop := val (proj1_sig u) s.

  Lemma restrict_eval :
    forall f (u : cls), eval (fun _ _ => True) cls_val u f <-> eval R val (proj1_sig u) f.
  Proof.
    induction f as [s|b|a IHa|l IHl|l IHl|a b IHa IHb|a b IHa IHb|a IHa|a IHa]
      using form_ind'; intro u.
    - reflexivity.
    - reflexivity.
    - simpl. rewrite IHa. reflexivity.
    - rewrite !eval_and, !Forall_forall. rewrite Forall_forall in IHl.
      split; intros H x Hx; apply (IHl x Hx); apply H; exact Hx.
    - rewrite !eval_or, !Exists_exists. rewrite Forall_forall in IHl.
      split; intros [x [Hx Hv]]; exists x; split; auto; apply (IHl x Hx); exact Hv.
    - simpl. rewrite IHa, IHb. reflexivity.
    - simpl. rewrite IHa, IHb. reflexivity.
    - simpl. split.
      + intros H v Hv. destruct u as [u Hu]. simpl in *.
        assert (Hv0 : R w0 v) by (transitivity u; assumption).
        apply (IHa (exist _ v Hv0)). apply H. exact I.
      + intros H v _. apply IHa. apply H. destruct u as [u Hu]; destruct v as [v Hv]; simpl.
        transitivity w0; [symmetry; assumption | assumption].
    - simpl. split.
      + intros [v [_ Hv]]. exists (proj1_sig v). split.
        * destruct u as [u Hu]; destruct v as [v Hv']; simpl.
          transitivity w0; [symmetry; assumption | assumption].
        * apply IHa. exact Hv.
      + intros [v [Huv Hv]]. destruct u as [u Hu]. simpl in *.
        assert (Hv0 : R w0 v) by (transitivity u; assumption).
        exists (exist _ v Hv0). split; [exact I | apply (IHa (exist _ v Hv0)); exact Hv].
  Qed.
End Restrict.

Theorem universal_valid_s5_valid : forall f, universal_valid f -> s5_valid f.
Proof.
  intros f H W R val HR w.
  assert (Hw : R w w) by reflexivity.
  apply (restrict_eval W R val HR w f (exist _ w Hw)).
  apply H.
Qed.
