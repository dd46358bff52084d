(** A checker for PXL certificates (kind [lemmas]: hinted RUP and
    necessitation steps over the one-world encoding), proved sound:
    [check_sound : check f c = true -> s5_valid f].

    The certificate carries the encoding's definition table (variable ->
    global flag, node with child literals).  The checker validates the table
    against the formula ([matches]), derives the definitional clauses itself,
    replays the steps and finally derives the root unit clause.  Nothing in
    the certificate is trusted: a wrong table, hint or step makes [check]
    return [false]. *)

From Coq Require Import String List ZArith PArith Bool Classical Lia.
From Coq Require Import FSets.FMapPositive.
From PXL Require Import Kernel.
Import ListNotations.
Module PM := PositiveMap.
Local Open Scope Z_scope.

(** * Literals, clauses, valuations *)

Definition lvar (l : Z) : positive :=
  match l with Zpos p | Zneg p => p | Z0 => 1%positive end.

Definition lit_true (v : positive -> Prop) (l : Z) : Prop :=
  match l with Zpos p => v p | Zneg p => ~ v p | Z0 => False end.

Definition sat (v : positive -> Prop) (c : list Z) : Prop := Exists (lit_true v) c.

Lemma lit_neg v l : l <> 0 -> (lit_true v (- l) <-> ~ lit_true v l).
Proof.
  intro Hl. destruct l as [|p|p]; simpl.
  - congruence.
  - tauto.
  - split; [tauto | apply NNPP].
Qed.

Lemma lit_ext (v1 v2 : positive -> Prop) l :
  (v1 (lvar l) <-> v2 (lvar l)) -> (lit_true v1 l <-> lit_true v2 l).
Proof. destruct l; simpl; tauto. Qed.

Lemma sat_by_contra v c : (Forall (fun l => ~ lit_true v l) c -> False) -> sat v c.
Proof.
  intro H. apply NNPP. intro Hn. apply H. unfold sat in Hn.
  rewrite Forall_forall. intros x Hx Hl. apply Hn. rewrite Exists_exists. eauto.
Qed.

(** * The definition table *)

Inductive entry : Type :=
| EAtom (name : string)
| EAnd (args : list Z)
| EOr (args : list Z)
| EImp (a b : Z)
| EIff (a b : Z)
| EBox (a : Z).

Definition children (e : entry) : list Z :=
  match e with
  | EAtom _ => []
  | EAnd ls | EOr ls => ls
  | EImp a b | EIff a b => [a; b]
  | EBox a => [a]
  end.

Definition table := list (positive * (bool * entry)).
Definition tmap := PM.t (bool * entry).

(** The map of a table; [None] when a variable is defined twice. *)
Fixpoint build (t : table) (m : tmap) : option tmap :=
  match t with
  | [] => Some m
  | (x, v) :: r =>
      match PM.find x m with
      | Some _ => None
      | None => build r (PM.add x v m)
      end
  end.

Lemma build_keeps t : forall m m' x v,
  build t m = Some m' -> PM.find x m = Some v -> PM.find x m' = Some v.
Proof.
  induction t as [|[y u] r IH]; simpl; intros m m' x v Hb Hx.
  - congruence.
  - destruct (PM.find y m) eqn:Hy; [discriminate|].
    apply (IH _ _ _ _ Hb). rewrite PM.gso; [exact Hx|]. intro; subst; congruence.
Qed.

Lemma build_in t : forall m m' x v,
  build t m = Some m' -> In (x, v) t -> PM.find x m' = Some v.
Proof.
  induction t as [|[y u] r IH]; simpl; intros m m' x v Hb Hin; [contradiction|].
  destruct (PM.find y m) eqn:Hy; [discriminate|].
  destruct Hin as [Heq | Hin].
  - inversion Heq; subst. apply (build_keeps _ _ _ _ _ Hb). apply PM.gss.
  - exact (IH _ _ _ _ Hb Hin).
Qed.

Lemma build_find t : forall m m' x v,
  build t m = Some m' -> PM.find x m' = Some v -> In (x, v) t \/ PM.find x m = Some v.
Proof.
  induction t as [|[y u] r IH]; simpl; intros m m' x v Hb Hx.
  - inversion Hb; subst; auto.
  - destruct (PM.find y m) eqn:Hy; [discriminate|].
    destruct (IH _ _ _ _ Hb Hx) as [H | H]; [auto|].
    destruct (Pos.eq_dec x y) as [-> | Hne].
    + rewrite PM.gss in H. inversion H; subst. auto.
    + rewrite PM.gso in H by exact Hne. auto.
Qed.

Definition is_glob (tm : tmap) (x : positive) : bool :=
  Pos.eqb x 1 || match PM.find x tm with Some (true, _) => true | _ => false end.

(** A table entry is well formed: not variable 1 (TRUE), non-zero child
    literals of smaller variables, and a global flag only on a box or on a
    connective whose children are all global. *)
Definition wf_entry (tm : tmap) (x : positive) (g : bool) (e : entry) : bool :=
  Pos.ltb 1 x
  && forallb (fun l => negb (Z.eqb l 0) && Pos.ltb (lvar l) x) (children e)
  && (negb g || match e with
                | EBox _ => true
                | EAtom _ => false
                | _ => forallb (fun l => is_glob tm (lvar l)) (children e)
                end).

Definition wf_table (tm : tmap) (t : table) : bool :=
  forallb (fun '(x, (g, e)) => wf_entry tm x g e) t.

(** The definitional clauses of variable [x] (the order the exporter numbers them in). *)
Definition entry_clauses (x : positive) (e : entry) : list (list Z) :=
  let X := Zpos x in
  match e with
  | EAtom _ => []
  | EAnd ls => map (fun l => [- X; l]) ls ++ [X :: map Z.opp ls]
  | EOr ls => map (fun l => [X; - l]) ls ++ [- X :: ls]
  | EImp a b => [[X; a]; [X; - b]; [- X; - a; b]]
  | EIff a b => [[- X; - a; b]; [- X; a; - b]; [X; a; b]; [X; - a; - b]]
  | EBox a => [[- X; a]]
  end.

(** The one-world encoding of a table: the TRUE unit, then each entry's clauses. *)
Definition enc_clauses (t : table) : list (list Z) :=
  [1] :: flat_map (fun '(x, (_, e)) => entry_clauses x e) t.

Lemma sat_iff v c :
  sat v c <-> (fix any (c : list Z) := match c with [] => False | l :: r => lit_true v l \/ any r end) c.
Proof.
  unfold sat. induction c as [|l r IH]; split; intro H.
  - inversion H.
  - destruct H.
  - inversion H; subst; [left; assumption | right; apply IH; assumption].
  - destruct H as [H | H]; [apply Exists_cons_hd; exact H | apply Exists_cons_tl; apply IH; exact H].
Qed.

Lemma sat_in v c l : In l c -> lit_true v l -> sat v c.
Proof. intros Hin Hl. apply Exists_exists. eauto. Qed.

(** * The valuation a model induces on the table's variables *)

Section Semantics.
  Variables (W : Type) (val : W -> string -> Prop) (tm : tmap).

  Definition sem (V : W -> positive -> Prop) (w : W) (e : entry) : Prop :=
    match e with
    | EAtom s => val w s
    | EAnd ls => Forall (lit_true (V w)) ls
    | EOr ls => Exists (lit_true (V w)) ls
    | EImp a b => lit_true (V w) a -> lit_true (V w) b
    | EIff a b => lit_true (V w) a <-> lit_true (V w) b
    | EBox a => forall u, lit_true (V u) a
    end.

  Lemma forall_ext (P Q : Z -> Prop) ls :
    (forall l, In l ls -> (P l <-> Q l)) -> (Forall P ls <-> Forall Q ls).
  Proof.
    intro H. rewrite !Forall_forall. split; intros H' l Hl; apply H; auto.
  Qed.

  Lemma exists_ext (P Q : Z -> Prop) ls :
    (forall l, In l ls -> (P l <-> Q l)) -> (Exists P ls <-> Exists Q ls).
  Proof.
    intro H. rewrite !Exists_exists. split; intros [l [Hl H']]; exists l; split; auto;
      apply H; auto.
  Qed.

  (** [sem] depends only on the children's values. *)
  Lemma sem_ext V1 V2 e w1 w2 :
    (forall l, In l (children e) -> forall u, V1 u (lvar l) <-> V2 u (lvar l)) ->
    (forall l, In l (children e) -> V1 w1 (lvar l) <-> V2 w2 (lvar l)) ->
    (forall s, e = EAtom s -> val w1 s <-> val w2 s) ->
    sem V1 w1 e <-> sem V2 w2 e.
  Proof.
    intros Hall Hloc Hval. destruct e; simpl in *.
    - apply Hval; reflexivity.
    - apply forall_ext. intros l Hl. apply lit_ext. auto.
    - apply exists_ext. intros l Hl. apply lit_ext. auto.
    - rewrite (lit_ext (V1 w1) (V2 w2) a), (lit_ext (V1 w1) (V2 w2) b);
        [reflexivity | |]; auto.
    - rewrite (lit_ext (V1 w1) (V2 w2) a), (lit_ext (V1 w1) (V2 w2) b);
        [reflexivity | |]; auto.
    - split; intros H u; [rewrite <- (lit_ext (V1 u) (V2 u)) | rewrite (lit_ext (V1 u) (V2 u))];
        auto.
  Qed.

  Fixpoint Vf (n : nat) (w : W) (x : positive) : Prop :=
    match n with
    | O => False
    | S n' =>
        if Pos.eqb x 1 then True
        else match PM.find x tm with
             | Some (_, e) => sem (Vf n') w e
             | None => False
             end
    end.

  Definition V (w : W) (x : positive) : Prop := Vf (S (Pos.to_nat x)) w x.

  Hypothesis wf : forall x g e, PM.find x tm = Some (g, e) ->
    forall l, In l (children e) -> l <> 0 /\ (lvar l < x)%positive.

  Lemma Vf_stable : forall n m x w,
    (Pos.to_nat x < n)%nat -> (Pos.to_nat x < m)%nat -> (Vf n w x <-> Vf m w x).
  Proof.
    induction n as [|n IH]; intros m x w Hn Hm; [lia|].
    destruct m as [|m]; [lia|]. cbn -[Pos.eqb sem].
    destruct (Pos.eqb x 1); [reflexivity|].
    destruct (PM.find x tm) as [[g e]|] eqn:Hx; [|reflexivity].
    apply sem_ext; [| |intros; reflexivity]; intros l Hl; [intro u|];
      destruct (wf _ _ _ Hx l Hl) as [_ Hlt]; apply Pos2Nat.inj_lt in Hlt;
      apply IH; lia.
  Qed.

  Lemma V_one w : V w 1.
  Proof. exact I. Qed.

  Lemma V_eq x g e : PM.find x tm = Some (g, e) -> x <> 1%positive ->
    forall w, V w x <-> sem V w e.
  Proof.
    intros Hx Hne w. unfold V at 1. cbn -[Pos.eqb sem].
    destruct (Pos.eqb_spec x 1); [contradiction|]. rewrite Hx.
    apply sem_ext; [| |intros; reflexivity]; intros l Hl; [intro u|];
      destruct (wf _ _ _ Hx l Hl) as [_ Hlt]; apply Pos2Nat.inj_lt in Hlt;
      unfold V; apply Vf_stable; lia.
  Qed.

  Hypothesis wf_glob : forall x e, PM.find x tm = Some (true, e) ->
    match e with
    | EBox _ => True
    | EAtom _ => False
    | _ => forall l, In l (children e) -> is_glob tm (lvar l) = true
    end.

  (** Global variables have the same value at every world (of a universal model). *)
  Lemma glob_invariant : forall n x, (Pos.to_nat x < n)%nat ->
    is_glob tm x = true -> forall w u, V w x <-> V u x.
  Proof.
    induction n as [|n IH]; intros x Hn Hg w u; [lia|].
    unfold is_glob in Hg. destruct (Pos.eqb_spec x 1) as [-> | Hne].
    - split; intros _; exact I.
    - simpl in Hg. destruct (PM.find x tm) as [[[|] e]|] eqn:Hx; try discriminate.
      rewrite (V_eq _ _ _ Hx Hne w), (V_eq _ _ _ Hx Hne u).
      pose proof (wf_glob _ _ Hx) as Hge.
      assert (Hch : forall l, In l (children e) -> is_glob tm (lvar l) = true ->
                 forall w u, V w (lvar l) <-> V u (lvar l)).
      { intros l Hl Hgl. destruct (wf _ _ _ Hx l Hl) as [_ Hlt].
        apply Pos2Nat.inj_lt in Hlt. apply IH; [lia | exact Hgl]. }
      destruct e; try contradiction; try reflexivity;
        (apply sem_ext; [intros; reflexivity | | intros; discriminate];
         intros l Hl; apply Hch; auto).
  Qed.

  Lemma child_nz x g e l : PM.find x tm = Some (g, e) -> In l (children e) -> l <> 0.
  Proof. intros Hx Hl. exact (proj1 (wf _ _ _ Hx l Hl)). Qed.

  Lemma entry_clauses_sound x g e : PM.find x tm = Some (g, e) -> x <> 1%positive ->
    forall c, In c (entry_clauses x e) -> forall w, sat (V w) c.
  Proof.
    intros Hx Hne c Hc w. pose proof (V_eq _ _ _ Hx Hne w) as HV.
    pose proof (fun l => child_nz _ _ _ l Hx) as Hnz.
    destruct e as [s|ls|ls|a b|a b|a]; simpl in Hc, HV, Hnz.
    - contradiction.
    - apply in_app_or in Hc. destruct Hc as [Hc | [Hc | []]].
      + apply in_map_iff in Hc. destruct Hc as [l [<- Hl]].
        destruct (classic (V w x)) as [Hv | Hv].
        * apply (sat_in _ _ l); [simpl; auto|]. apply HV in Hv.
          rewrite Forall_forall in Hv. auto.
        * apply (sat_in _ _ (Zneg x)); [simpl; auto | exact Hv].
      + subst c. destruct (classic (V w x)) as [Hv | Hv].
        * apply (sat_in _ _ (Zpos x)); [simpl; auto | exact Hv].
        * rewrite HV in Hv. destruct (classic (exists l, In l ls /\ ~ lit_true (V w) l))
            as [[l [Hl Hnl]] | Hno].
          -- apply (sat_in _ _ (- l)); [right; apply in_map; exact Hl|].
             apply lit_neg; auto.
          -- exfalso. apply Hv. rewrite Forall_forall. intros l Hl. apply NNPP. eauto.
    - apply in_app_or in Hc. destruct Hc as [Hc | [Hc | []]].
      + apply in_map_iff in Hc. destruct Hc as [l [<- Hl]].
        destruct (classic (V w x)) as [Hv | Hv].
        * apply (sat_in _ _ (Zpos x)); [simpl; auto | exact Hv].
        * apply (sat_in _ _ (- l)); [simpl; auto|]. apply lit_neg; auto.
          intro Hlt. apply Hv. apply HV. apply Exists_exists. eauto.
      + subst c. destruct (classic (V w x)) as [Hv | Hv].
        * apply HV in Hv. apply Exists_exists in Hv. destruct Hv as [l [Hl Hlt]].
          apply (sat_in _ _ l); [right; exact Hl | exact Hlt].
        * apply (sat_in _ _ (Zneg x)); [simpl; auto | exact Hv].
    - assert (Ha : a <> 0) by auto. assert (Hb : b <> 0) by auto.
      destruct Hc as [<- | [<- | [<- | []]]]; apply sat_iff; simpl; rewrite HV; simpl;
        rewrite ?(lit_neg _ a Ha), ?(lit_neg _ b Hb);
        destruct (classic (lit_true (V w) a)), (classic (lit_true (V w) b)); tauto.
    - assert (Ha : a <> 0) by auto. assert (Hb : b <> 0) by auto.
      destruct Hc as [<- | [<- | [<- | [<- | []]]]]; apply sat_iff; simpl; rewrite HV; simpl;
        rewrite ?(lit_neg _ a Ha), ?(lit_neg _ b Hb);
        destruct (classic (lit_true (V w) a)), (classic (lit_true (V w) b)); tauto.
    - destruct Hc as [<- | []]. destruct (classic (V w x)) as [Hv | Hv].
      + apply (sat_in _ _ a); [simpl; auto|]. exact (proj1 HV Hv w).
      + apply (sat_in _ _ (Zneg x)); [simpl; auto | exact Hv].
  Qed.
End Semantics.

(** * The table names the formula *)

Definition entry_of (tm : tmap) (l : Z) : option entry :=
  match l with
  | Zpos x => match PM.find x tm with Some (_, e) => Some e | None => None end
  | _ => None
  end.

(** [matches tm l f]: literal [l] denotes formula [f] under the table. *)
Fixpoint matches (tm : tmap) (l : Z) (f : form) {struct f} : bool :=
  match f with
  | FAtom s => match entry_of tm l with Some (EAtom s') => String.eqb s s' | _ => false end
  | FConst true => Z.eqb l 1
  | FConst false => Z.eqb l (-1)
  | FNot a => negb (Z.eqb l 0) && matches tm (- l) a
  | FAnd fs => match entry_of tm l with
               | Some (EAnd ls) =>
                   (fix all2 (ls : list Z) (fs : list form) {struct fs} : bool :=
                      match ls, fs with
                      | [], [] => true
                      | l :: lr, f :: fr => matches tm l f && all2 lr fr
                      | _, _ => false
                      end) ls fs
               | _ => false
               end
  | FOr fs => match entry_of tm l with
              | Some (EOr ls) =>
                  (fix all2 (ls : list Z) (fs : list form) {struct fs} : bool :=
                     match ls, fs with
                     | [], [] => true
                     | l :: lr, f :: fr => matches tm l f && all2 lr fr
                     | _, _ => false
                     end) ls fs
              | _ => false
              end
  | FImp a b => match entry_of tm l with
                | Some (EImp la lb) => matches tm la a && matches tm lb b
                | _ => false
                end
  | FIff a b => match entry_of tm l with
                | Some (EIff la lb) => matches tm la a && matches tm lb b
                | _ => false
                end
  | FBox a => match entry_of tm l with Some (EBox la) => matches tm la a | _ => false end
  | FDia a => match entry_of tm (- l) with Some (EBox la) => matches tm (- la) a | _ => false end
  end.

Section Matches.
  Variables (W : Type) (val : W -> string -> Prop) (tm : tmap).
  Hypothesis wf : forall x g e, PM.find x tm = Some (g, e) ->
    forall l, In l (children e) -> l <> 0 /\ (lvar l < x)%positive.
  Hypothesis no_one : PM.find 1%positive tm = None.

  Local Notation Vt := (V W val tm).
  Local Notation ev := (eval (fun _ _ : W => True) val).

  Lemma entry_of_pos l e :
    entry_of tm l = Some e ->
    exists x g, l = Zpos x /\ PM.find x tm = Some (g, e) /\ x <> 1%positive.
  Proof.
    unfold entry_of. destruct l as [|x|x]; try discriminate.
    destruct (PM.find x tm) as [[g e']|] eqn:Hx; intro H; inversion H; subst.
    exists x, g. repeat split; auto. intros ->. congruence.
  Qed.

  Lemma all2_sem (ls : list Z) (fs : list form) :
    Forall (fun f => forall l, matches tm l f = true -> forall w, lit_true (Vt w) l <-> ev w f) fs ->
    (fix all2 (ls : list Z) (fs : list form) {struct fs} : bool :=
       match ls, fs with
       | [], [] => true
       | l :: lr, f :: fr => matches tm l f && all2 lr fr
       | _, _ => false
       end) ls fs = true ->
    forall w, (Forall (lit_true (Vt w)) ls <-> Forall (ev w) fs)
              /\ (Exists (lit_true (Vt w)) ls <-> Exists (ev w) fs).
  Proof.
    revert ls. induction fs as [|f fr IH]; intros ls HF Hm w; destruct ls as [|l lr];
      try discriminate.
    - split; split; intro H; try constructor; inversion H.
    - apply andb_true_iff in Hm. destruct Hm as [Hl Hr]. inversion HF; subst.
      pose proof (H1 l Hl w) as Hlf. destruct (IH lr H2 Hr w) as [HA HE].
      split; split; intro H; inversion H; subst.
      + constructor; [apply Hlf | apply HA]; assumption.
      + constructor; [apply Hlf | apply HA]; assumption.
      + apply Exists_cons_hd. apply Hlf. assumption.
      + apply Exists_cons_tl. apply HE. assumption.
      + apply Exists_cons_hd. apply Hlf. assumption.
      + apply Exists_cons_tl. apply HE. assumption.
  Qed.

  Ltac open_entry He :=
    let x := fresh "x" in let g := fresh "g" in let Hx := fresh "Hx" in
    let Hne := fresh "Hne" in let Hl := fresh "Hl" in
    destruct (entry_of_pos _ _ He) as [x [g [Hl [Hx Hne]]]].

  Lemma matches_sound : forall f l, matches tm l f = true ->
    forall w, lit_true (Vt w) l <-> ev w f.
  Proof.
    induction f as [s|b|a IHa|fs IH|fs IH|a b IHa IHb|a b IHa IHb|a IHa|a IHa]
      using form_ind'; intros l Hm w; simpl in Hm.
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. apply String.eqb_eq in Hm. subst.
      simpl. rewrite (V_eq W val tm wf _ _ _ Hx Hne w). reflexivity.
    - destruct b; apply Z.eqb_eq in Hm; subst l; simpl; split; auto;
        intro H; apply H; exact I.
    - apply andb_true_iff in Hm. destruct Hm as [H0 Hm]. apply negb_true_iff in H0.
      apply Z.eqb_neq in H0. change (ev w (FNot a)) with (~ ev w a).
      rewrite <- (IHa _ Hm w), (lit_neg _ _ H0).
      split; [tauto | apply NNPP].
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. change (lit_true (Vt w) (Zpos x)) with (Vt w x).
      rewrite (V_eq W val tm wf _ _ _ Hx Hne w), eval_and. simpl sem.
      exact (proj1 (all2_sem _ _ IH Hm w)).
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. change (lit_true (Vt w) (Zpos x)) with (Vt w x).
      rewrite (V_eq W val tm wf _ _ _ Hx Hne w), eval_or. simpl sem.
      exact (proj2 (all2_sem _ _ IH Hm w)).
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. apply andb_true_iff in Hm. destruct Hm as [Ha Hb].
      simpl. change (lit_true (Vt w) (Zpos x)) with (Vt w x). rewrite (V_eq W val tm wf _ _ _ Hx Hne w). simpl.
      rewrite (IHa _ Ha w), (IHb _ Hb w). reflexivity.
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. apply andb_true_iff in Hm. destruct Hm as [Ha Hb].
      simpl. change (lit_true (Vt w) (Zpos x)) with (Vt w x). rewrite (V_eq W val tm wf _ _ _ Hx Hne w). simpl.
      rewrite (IHa _ Ha w), (IHb _ Hb w). reflexivity.
    - destruct (entry_of tm l) as [e|] eqn:He; [|discriminate]. open_entry He. subst l.
      destruct e; try discriminate. change (lit_true (Vt w) (Zpos x)) with (Vt w x).
      rewrite (V_eq W val tm wf _ _ _ Hx Hne w). simpl.
      split; intros H u; [intros _|]; apply (IHa _ Hm u); apply H; exact I.
    - destruct (entry_of tm (- l)) as [e|] eqn:He; [|discriminate]. open_entry He.
      assert (Hl' : l = Zneg x) by (destruct l; simpl in *; congruence). subst l.
      destruct e; try discriminate.
      assert (Ha0 : a0 <> 0) by (apply (wf _ _ _ Hx); simpl; auto).
      simpl. rewrite (V_eq W val tm wf _ _ _ Hx Hne w). simpl.
      split.
      + intro Hn. apply NNPP. intro Hno. apply Hn. intro u. apply NNPP. intro Hu.
        apply Hno. exists u. split; [exact I|]. apply (IHa _ Hm u).
        apply lit_neg; assumption.
      + intros [u [_ Hu]] Hn. apply (IHa _ Hm u) in Hu. apply lit_neg in Hu; auto.
  Qed.
End Matches.

(** * Hinted RUP *)

Definition assign := PM.t bool.

Definition lit_val (a : assign) (l : Z) : option bool :=
  match l with
  | Zpos p => PM.find p a
  | Zneg p => option_map negb (PM.find p a)
  | Z0 => Some false
  end.

Definition set_true (a : assign) (l : Z) : assign :=
  match l with
  | Zpos p => PM.add p true a
  | Zneg p => PM.add p false a
  | Z0 => a
  end.

Definition agrees (v : positive -> Prop) (a : assign) : Prop :=
  forall p b, PM.find p a = Some b -> if b then v p else ~ v p.

Lemma agrees_val v a l b : agrees v a -> lit_val a l = Some b ->
  if b then lit_true v l else ~ lit_true v l.
Proof.
  intros Ha H. destruct l as [|p|p]; simpl in *.
  - inversion H; subst. auto.
  - exact (Ha _ _ H).
  - destruct (PM.find p a) as [c|] eqn:Hp; inversion H; subst.
    pose proof (Ha _ _ Hp). destruct c; simpl; tauto.
Qed.

Lemma agrees_set v a l : agrees v a -> lit_true v l -> agrees v (set_true a l).
Proof.
  intros Ha Hl. destruct l as [|p|p]; simpl in *; try contradiction;
    intros q b Hq; (destruct (Pos.eq_dec q p) as [-> | Hne];
    [rewrite PM.gss in Hq; inversion Hq; subst; exact Hl
    | rewrite PM.gso in Hq by exact Hne; exact (Ha _ _ Hq)]).
Qed.

(** Assert the negation of a clause; [None] when one of its literals is already true
    (the clause is then satisfied by every valuation agreeing with the assignment). *)
Fixpoint assume_neg (a : assign) (c : list Z) : option assign :=
  match c with
  | [] => Some a
  | l :: r => match lit_val a l with
              | Some true => None
              | _ => assume_neg (set_true a (- l)) r
              end
  end.

Lemma assume_neg_sound v : forall c a, agrees v a -> Forall (fun l => ~ lit_true v l) c ->
  match assume_neg a c with Some a' => agrees v a' | None => False end.
Proof.
  induction c as [|l r IH]; intros a Ha Hc; simpl; [exact Ha|].
  inversion Hc; subst.
  destruct (lit_val a l) as [[|]|] eqn:Hl.
  - apply (agrees_val _ _ _ _ Ha) in Hl. contradiction.
  - apply IH; [|assumption].
    destruct (Z.eq_dec l 0) as [-> | Hnz]; [exact Ha|].
    apply agrees_set; [exact Ha|]. apply lit_neg; assumption.
  - apply IH; [|assumption].
    destruct (Z.eq_dec l 0) as [-> | Hnz]; [exact Ha|].
    apply agrees_set; [exact Ha|]. apply lit_neg; assumption.
Qed.

Inductive ures := UConflict | UUnit (l : Z) | UOther.

(** The status of a clause under an assignment: all literals false, exactly one
    unassigned literal (the others false), or anything else. *)
Fixpoint unit_of (a : assign) (c : list Z) (found : option Z) : ures :=
  match c with
  | [] => match found with None => UConflict | Some u => UUnit u end
  | l :: r =>
      match lit_val a l with
      | Some true => UOther
      | Some false => unit_of a r found
      | None => match found with
                | None => unit_of a r (Some l)
                | Some u => if Z.eqb u l then unit_of a r found else UOther
                end
      end
  end.

Lemma unit_of_found a : forall c u f, unit_of a c (Some f) = UUnit u -> u = f.
Proof.
  induction c as [|l r IH]; intros u f H; simpl in H.
  - congruence.
  - destruct (lit_val a l) as [[|]|]; try discriminate; eauto.
    destruct (Z.eqb f l); [eauto | discriminate].
Qed.

Lemma unit_of_spec a : forall c f,
  (unit_of a c f = UConflict -> Forall (fun l => lit_val a l = Some false) c) /\
  (forall u, unit_of a c f = UUnit u -> Forall (fun l => l = u \/ lit_val a l = Some false) c).
Proof.
  induction c as [|l r IH]; intros f; simpl.
  - split; intros; constructor.
  - destruct (lit_val a l) as [[|]|] eqn:Hl.
    + split; intros; discriminate.
    + destruct (IH f) as [H1 H2]. split; [intro H | intros u H]; constructor; auto.
    + destruct f as [f|].
      * destruct (Z.eqb_spec f l) as [<- | ]; [|split; intros; discriminate].
        destruct (IH (Some f)) as [H1 H2]. split; [intro H | intros u H].
        -- pose proof (H1 H). constructor; auto.
           (* a conflict after a found literal is impossible *)
           clear -H. revert H. induction r as [|l' r' IHr]; simpl; [discriminate|].
           destruct (lit_val a l') as [[|]|]; try discriminate; auto.
           destruct (Z.eqb f l'); [auto | discriminate].
        -- pose proof (unit_of_found _ _ _ _ H) as ->. constructor; auto.
      * destruct (IH (Some l)) as [H1 H2]. split; [intro H | intros u H].
        -- exfalso. clear -H. revert H. generalize l. induction r as [|l' r' IHr]; intros l0 H;
             simpl in H; [discriminate|].
           destruct (lit_val a l') as [[|]|]; try discriminate; eauto.
           destruct (Z.eqb l0 l'); [eauto | discriminate].
        -- pose proof (unit_of_found _ _ _ _ H) as ->. constructor; auto.
Qed.

Definition clause_db := PM.t (list Z).

(** Follow the hints: each hinted clause must be unit (its literal is then set) or
    conflicting (success). *)
Fixpoint propagate (db : clause_db) (a : assign) (hints : list positive) : bool :=
  match hints with
  | [] => false
  | h :: r =>
      match PM.find h db with
      | None => false
      | Some c => match unit_of a c None with
                  | UConflict => true
                  | UUnit l => propagate db (set_true a l) r
                  | UOther => false
                  end
      end
  end.

Definition rup (db : clause_db) (c : list Z) (hints : list positive) : bool :=
  match assume_neg (PM.empty bool) c with
  | None => true
  | Some a => propagate db a hints
  end.

Definition db_sat (v : positive -> Prop) (db : clause_db) : Prop :=
  forall id c, PM.find id db = Some c -> sat v c.

Lemma propagate_sound v db : db_sat v db ->
  forall hints a, agrees v a -> propagate db a hints = true -> False.
Proof.
  intros Hdb. induction hints as [|h r IH]; intros a Ha Hp; simpl in Hp; [discriminate|].
  destruct (PM.find h db) as [c|] eqn:Hc; [|discriminate].
  pose proof (Hdb _ _ Hc) as Hs. unfold sat in Hs. rewrite Exists_exists in Hs.
  destruct Hs as [l [Hl Hlt]].
  destruct (unit_of_spec a c None) as [H1 H2].
  destruct (unit_of a c None) as [|u|] eqn:Hu; try discriminate.
  - pose proof (H1 eq_refl) as Hf. rewrite Forall_forall in Hf.
    exact (agrees_val _ _ _ _ Ha (Hf l Hl) Hlt).
  - apply (IH (set_true a u)); [|exact Hp]. apply agrees_set; [exact Ha|].
    pose proof (H2 u eq_refl) as Hf. rewrite Forall_forall in Hf.
    destruct (Hf l Hl) as [<- | Hfl]; [exact Hlt|].
    exfalso. exact (agrees_val _ _ _ _ Ha Hfl Hlt).
Qed.

Lemma rup_sound v db c hints : db_sat v db -> rup db c hints = true -> sat v c.
Proof.
  intros Hdb Hr. apply sat_by_contra. intro Hc. unfold rup in Hr.
  assert (H0 : agrees v (PM.empty bool)) by (intros p b Hp; rewrite PM.gempty in Hp; discriminate).
  pose proof (assume_neg_sound v c _ H0 Hc) as Ha.
  destruct (assume_neg (PM.empty bool) c) as [a|]; [|exact Ha].
  exact (propagate_sound v db Hdb hints a Ha Hr).
Qed.

(** * Certificates *)

Inductive step : Type :=
(** Add clause [c] under id [id]; it must be RUP with the given hints. *)
| SAdd (id : positive) (c : list Z) (hints : list positive)
(** Necessitation: [b] is a box variable with argument literal [a] and every
    hypothesis is a literal of a global variable; the premise [a :: map Z.opp hyps]
    must be RUP; then [Zpos b :: map Z.opp hyps] is added under id [id]. *)
| SNec (id : positive) (b : positive) (hyps : list Z) (hints : list positive).

Record cert : Type := mk_cert {
  cert_table : table;
  cert_root : Z;
  cert_steps : list step;
  cert_final : list positive  (** hints for the RUP check of [[root]] *)
}.

(** The encoding's clauses get ids 1, 2, 3, ... in [enc_clauses] order. *)
Definition load_step (acc : clause_db * positive) (c : list Z) : clause_db * positive :=
  (PM.add (snd acc) c (fst acc), Pos.succ (snd acc)).

Definition load (cs : list (list Z)) : clause_db :=
  fst (fold_left load_step cs (PM.empty (list Z), 1%positive)).

Lemma load_in : forall (cs : list (list Z)) (db : clause_db) i id c,
  PM.find id (fst (fold_left load_step cs (db, i))) = Some c ->
  In c cs \/ PM.find id db = Some c.
Proof.
  induction cs as [|c0 r IH]; intros db i id c H; simpl in *; [auto|].
  destruct (IH _ _ _ _ H) as [Hin | Hf]; [auto|].
  destruct (Pos.eq_dec id i) as [-> | Hne].
  - rewrite PM.gss in Hf. inversion Hf; auto.
  - rewrite PM.gso in Hf by exact Hne. auto.
Qed.

Definition nonzero (l : Z) : bool := negb (Z.eqb l 0).

Fixpoint run (tm : tmap) (db : clause_db) (steps : list step) : option clause_db :=
  match steps with
  | [] => Some db
  | SAdd id c hints :: r => if rup db c hints then run tm (PM.add id c db) r else None
  | SNec id b hyps hints :: r =>
      match PM.find b tm with
      | Some (_, EBox a) =>
          if forallb (fun h => nonzero h && is_glob tm (lvar h)) hyps
             && rup db (a :: map Z.opp hyps) hints
          then run tm (PM.add id (Zpos b :: map Z.opp hyps) db) r
          else None
      | _ => None
      end
  end.

Definition check (f : form) (c : cert) : bool :=
  match build (cert_table c) (PM.empty _) with
  | None => false
  | Some tm =>
      wf_table tm (cert_table c) && matches tm (cert_root c) f &&
      match run tm (load (enc_clauses (cert_table c))) (cert_steps c) with
      | Some db => rup db [cert_root c] (cert_final c)
      | None => false
      end
  end.

Section Soundness.
  Variables (W : Type) (val : W -> string -> Prop) (t : table) (tm : tmap).
  Hypothesis Hbuild : build t (PM.empty _) = Some tm.
  Hypothesis Hwf : wf_table tm t = true.

  Lemma find_wf x g e : PM.find x tm = Some (g, e) -> wf_entry tm x g e = true.
  Proof.
    intro Hx. destruct (build_find _ _ _ _ _ Hbuild Hx) as [Hin | He];
      [|rewrite PM.gempty in He; discriminate].
    unfold wf_table in Hwf. rewrite forallb_forall in Hwf. exact (Hwf _ Hin).
  Qed.

  Lemma twf : forall x g e, PM.find x tm = Some (g, e) ->
    forall l, In l (children e) -> l <> 0 /\ (lvar l < x)%positive.
  Proof.
    intros x g e Hx l Hl. pose proof (find_wf _ _ _ Hx) as Hw. unfold wf_entry in Hw.
    apply andb_true_iff in Hw. destruct Hw as [Hw _]. apply andb_true_iff in Hw.
    destruct Hw as [_ Hw]. rewrite forallb_forall in Hw. specialize (Hw l Hl).
    apply andb_true_iff in Hw. destruct Hw as [Hz Hlt].
    split; [apply negb_true_iff, Z.eqb_neq in Hz; exact Hz | apply Pos.ltb_lt; exact Hlt].
  Qed.

  Lemma tglob : forall x e, PM.find x tm = Some (true, e) ->
    match e with
    | EBox _ => True
    | EAtom _ => False
    | _ => forall l, In l (children e) -> is_glob tm (lvar l) = true
    end.
  Proof.
    intros x e Hx. pose proof (find_wf _ _ _ Hx) as Hw. unfold wf_entry in Hw.
    apply andb_true_iff in Hw. destruct Hw as [_ Hw]. simpl in Hw.
    destruct e; auto; try discriminate; intros l Hl; rewrite forallb_forall in Hw; auto.
  Qed.

  Lemma tne x g e : PM.find x tm = Some (g, e) -> x <> 1%positive.
  Proof.
    intros Hx ->. pose proof (find_wf _ _ _ Hx) as Hw. unfold wf_entry in Hw.
    rewrite Pos.ltb_irrefl in Hw. discriminate.
  Qed.

  Lemma tnone : PM.find 1%positive tm = None.
  Proof.
    destruct (PM.find 1%positive tm) as [[g e]|] eqn:H; [|reflexivity].
    exfalso. exact (tne _ _ _ H eq_refl).
  Qed.

  Local Notation Vt := (V W val tm).

  Lemma enc_sound : forall c, In c (enc_clauses t) -> forall w, sat (Vt w) c.
  Proof.
    intros c Hc w. destruct Hc as [<- | Hc].
    - apply (sat_in _ _ 1); [left; reflexivity | exact I].
    - apply in_flat_map in Hc. destruct Hc as [[x [g e]] [Hin Hc]].
      pose proof (build_in _ _ _ _ _ Hbuild Hin) as Hx.
      exact (entry_clauses_sound W val tm twf x g e Hx (tne _ _ _ Hx) c Hc w).
  Qed.

  Definition inv (db : clause_db) := forall w, db_sat (Vt w) db.

  Lemma inv_add db id c : inv db -> (forall w, sat (Vt w) c) -> inv (PM.add id c db).
  Proof.
    intros Hdb Hc w id' c' H. destruct (Pos.eq_dec id' id) as [-> | Hne].
    - rewrite PM.gss in H. inversion H; subst. apply Hc.
    - rewrite PM.gso in H by exact Hne. exact (Hdb w _ _ H).
  Qed.

  Lemma nec_sound db b a hyps :
    inv db -> forall g, PM.find b tm = Some (g, EBox a) ->
    forallb (fun h => nonzero h && is_glob tm (lvar h)) hyps = true ->
    (forall w, sat (Vt w) (a :: map Z.opp hyps)) ->
    forall w, sat (Vt w) (Zpos b :: map Z.opp hyps).
  Proof.
    intros Hdb g Hb Hh Hp w. rewrite forallb_forall in Hh.
    destruct (classic (exists h, In h hyps /\ ~ lit_true (Vt w) h)) as [[h [Hin Hn]] | Hall].
    - specialize (Hh h Hin). apply andb_true_iff in Hh. destruct Hh as [Hz _].
      apply negb_true_iff, Z.eqb_neq in Hz.
      apply (sat_in _ _ (- h)); [right; apply in_map; exact Hin | apply lit_neg; auto].
    - apply (sat_in _ _ (Zpos b)); [left; reflexivity|]. simpl.
      rewrite (V_eq W val tm twf _ _ _ Hb (tne _ _ _ Hb) w). simpl. intro u.
      specialize (Hp u). unfold sat in Hp. rewrite Exists_exists in Hp.
      destruct Hp as [l [[<- | Hl] Hlt]]; [exact Hlt|].
      apply in_map_iff in Hl. destruct Hl as [h [<- Hin]].
      specialize (Hh h Hin). apply andb_true_iff in Hh. destruct Hh as [Hz Hg].
      apply negb_true_iff, Z.eqb_neq in Hz.
      exfalso. apply lit_neg in Hlt; [|exact Hz]. apply Hlt.
      assert (Hw : lit_true (Vt w) h) by (apply NNPP; intro; apply Hall; eauto).
      apply (lit_ext (Vt w)); [|exact Hw].
      apply (glob_invariant W val tm twf tglob (S (Pos.to_nat (lvar h)))); [lia | exact Hg].
  Qed.

  Lemma run_sound : forall steps db db', inv db -> run tm db steps = Some db' -> inv db'.
  Proof.
    induction steps as [|s r IH]; intros db db' Hdb Hr; simpl in Hr.
    - inversion Hr; subst; exact Hdb.
    - destruct s as [id c hints | id b hyps hints].
      + destruct (rup db c hints) eqn:Hrup; [|discriminate].
        apply (IH _ _ (inv_add _ _ _ Hdb (fun w => rup_sound _ _ _ _ (Hdb w) Hrup)) Hr).
      + destruct (PM.find b tm) as [[g [| | | | |a]]|] eqn:Hb; try discriminate.
        destruct (forallb _ hyps) eqn:Hh; [|discriminate].
        destruct (rup db (a :: map Z.opp hyps) hints) eqn:Hrup; [|discriminate].
        simpl in Hr. refine (IH _ _ (inv_add _ _ _ Hdb _) Hr).
        apply (nec_sound db b a hyps Hdb g Hb Hh).
        intro w. exact (rup_sound _ _ _ _ (Hdb w) Hrup).
  Qed.
End Soundness.

Theorem check_universal : forall f c, check f c = true -> universal_valid f.
Proof.
  intros f c Hc W val w. unfold check in Hc.
  destruct (build (cert_table c) (PM.empty _)) as [tm|] eqn:Hb; [|discriminate].
  apply andb_true_iff in Hc. destruct Hc as [Hc Hrun]. apply andb_true_iff in Hc.
  destruct Hc as [Hwf Hm].
  destruct (run tm _ (cert_steps c)) as [db|] eqn:Hr; [|discriminate].
  assert (Hinv0 : inv W val tm (load (enc_clauses (cert_table c)))).
  { intros w' id c' Hf. unfold load in Hf. destruct (load_in _ _ _ _ _ Hf) as [Hin | He].
    - exact (enc_sound W val _ _ Hb Hwf c' Hin w').
    - rewrite PM.gempty in He. discriminate. }
  pose proof (run_sound W val _ _ Hb Hwf _ _ _ Hinv0 Hr) as Hinv.
  pose proof (rup_sound _ _ _ _ (Hinv w) Hrun) as Hs.
  unfold sat in Hs. inversion Hs as [? ? Hroot | ? ? Hnil]; subst; [|inversion Hnil].
  exact (proj1 (matches_sound W val tm (twf _ _ Hb Hwf) (tnone _ _ Hb Hwf) f _ Hm w) Hroot).
Qed.

(** The checker is sound for S5. *)
Theorem check_sound : forall f c, check f c = true -> s5_valid f.
Proof. intros f c H. apply universal_valid_s5_valid. exact (check_universal f c H). Qed.
